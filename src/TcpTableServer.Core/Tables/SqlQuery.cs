using System.Text;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Keys;
using TcpTableServer.Memcache;

namespace TcpTableServer.Tables;

/// <summary>
/// The parts of a pgsql_table(5) or sqlite_table(5) file both tables share, read once at open
/// as Postfix's db_common does: the <c>query</c> template (or the legacy <c>table</c>,
/// <c>select_field</c>, <c>where_field</c>, <c>additional_conditions</c>), <c>result_format</c>,
/// <c>expansion_limit</c> and the <c>domain</c> list. Expands the query for a key with the
/// backend's quoting (<see cref="KeyFormat"/> with a <see cref="KeyQuote"/>) and joins the
/// results (<see cref="Results"/>). Immutable after open: safe for concurrent lookups.
/// </summary>
public sealed class SqlQuery : IAsyncDisposable
{
    /// <summary>Parameters both tables read (the legacy query parts included).</summary>
    public static readonly IReadOnlyList<string> CommonNames =
        ["query", "result_format", "expansion_limit", "domain", "table", "select_field", "where_field", "additional_conditions"];

    private readonly KeyFormat _query;
    private readonly KeyFormat _result;
    private readonly KeyFormat.Needs _needs;   // of both templates: db_common keeps one set of flags
    private readonly int _labels;
    private readonly ILogger _logger;
    private readonly Logging.LogThrottle _skipped;

    /// <summary>The table's name ("pgsql:/etc/postfix/x.cf") for log messages.</summary>
    public string TableName { get; }

    /// <summary>The query template as configured (or built from the legacy parameters).</summary>
    public string Template => _query.Template;

    /// <summary><c>expansion_limit</c>: at most this many results (0: no limit); more is a temporary error.</summary>
    public int ExpansionLimit { get; }

    /// <summary>The <c>domain</c> list, or null when there is none (every key is queried).</summary>
    public DomainFilter? Domain { get; }

    private SqlQuery(string tableName, KeyFormat query, KeyFormat result, int limit, DomainFilter? domain, ILogger logger)
    {
        TableName = tableName;
        _query = query;
        _result = result;
        _needs = query.NeedsAs(result: false) | result.NeedsAs(result: true);
        _labels = Math.Max(query.MaxLabel, result.MaxLabel);
        ExpansionLimit = limit;
        Domain = domain;
        _logger = logger;
        _skipped = new Logging.LogThrottle(logger, LogLevel.Warning, $"{tableName}: skipped keys and results");
    }

    /// <summary>
    /// Reads the shared parameters of <paramref name="cf"/> (read from <paramref name="file"/>).
    /// <paramref name="fallbackQuery"/> is the table's own legacy query (pgsql's
    /// <c>select_function</c>), used before the table/select_field/where_field form. Throws
    /// <see cref="ConfigException"/> naming file and line for an invalid template, a bad number
    /// or a domain list that cannot be opened.
    /// </summary>
    public static SqlQuery Parse(string tableName, IReadOnlyDictionary<string, ConfigValue> cf, string file,
        string? fallbackQuery, ITableFactory tables, TableOpenOptions options, ILogger logger)
    {
        string queryText = cf.TryGetValue("query", out var q) ? q.Value : fallbackQuery ?? LegacyQuery(cf, file);
        if (queryText.Length == 0)
            throw new ConfigException("empty query", q ?? new ConfigValue("query", "", file, 0));
        if (queryText.Contains('\0'))
            throw new ConfigException("query contains a NUL character", q ?? new ConfigValue("query", "", file, 0));
        var query = KeyFormat.Parse(queryText, out string? error)
            ?? throw new ConfigException(error!, q ?? new ConfigValue("query", queryText, file, 0));

        var rf = cf.GetValueOrDefault("result_format");
        if (rf is not null && rf.Value.Length == 0)
            throw new ConfigException("bad string length 0 < 1: result_format = ", rf);
        var result = KeyFormat.Parse(rf?.Value ?? "%s", out error)
            ?? throw new ConfigException(error!.Replace("query template", "result template"), rf!);

        int limit = 0;
        if (cf.TryGetValue("expansion_limit", out var el))
        {
            if (!MemcacheSettings.TryParseInt(el.Value, out limit))
                throw new ConfigException($"bad numerical configuration: {el.Value}", el);
            if (limit < 0)
                throw new ConfigException($"invalid parameter value {limit} < 0", el);
        }

        DomainFilter? domain = null;
        if (cf.TryGetValue("domain", out var d) && d.Value.Length > 0)
            domain = DomainFilter.Parse(d, tables, Path.GetDirectoryName(file) ?? "/", tableName, logger, unicode: options.Utf8);
        return new SqlQuery(tableName, query, result, limit, domain, logger);
    }

    /// <summary>db_common_sql_build_query: SELECT select_field FROM table WHERE where_field='%s' additional_conditions.</summary>
    private static string LegacyQuery(IReadOnlyDictionary<string, ConfigValue> cf, string file)
    {
        string Required(string name) =>
            cf.TryGetValue(name, out var v) && v.Value.Length > 0 ? v.Value
            : throw new ConfigException($"neither 'query' nor '{name}' is defined", file, 0);
        string table = Required("table"), select = Required("select_field"), where = Required("where_field");
        string more = cf.GetValueOrDefault("additional_conditions")?.Value ?? "";
        return $"SELECT {select} FROM {table} WHERE {where}='%s' {more}";
    }

    /// <summary>
    /// Whether <paramref name="key"/> is queried at all (db_common_expand's first, unquoted
    /// pass): not when it is empty (warned, as Postfix does) or lacks a localpart or domain
    /// (labels) that the query or result template needs.
    /// </summary>
    public bool Admits(string key)
    {
        if (key.Length == 0)
        {
            if (_skipped.Admit()) _logger.LogWarning("table \"{Table}\": empty query string -- ignored", TableName);
            return false;
        }
        return KeyFormat.KeyAllows(key, _needs, _labels);
    }

    /// <summary>The query for an admitted key, each substituted piece quoted by <paramref name="quote"/>.</summary>
    public string Expand(string key, KeyQuote quote) => _query.Expand(key, quote)!;

    /// <summary>Starts joining the results of the query for <paramref name="key"/>.</summary>
    public Results StartResults(string key) => new(this, key);

    /// <summary>
    /// The results of one lookup joined as db_common_expand joins them: each non-NULL,
    /// non-empty value expanded with <c>result_format</c>, the expansions separated by ','.
    /// </summary>
    public sealed class Results(SqlQuery query, string key)
    {
        private readonly StringBuilder _into = new();
        private int _expansions;

        /// <summary>
        /// Adds one column value (null for SQL NULL, skipped silently; empty is skipped with a
        /// warning). Returns false when the expansion limit is exceeded: the lookup is then a
        /// temporary error (warned here).
        /// </summary>
        public bool Add(string? value)
        {
            if (value is null) return true;
            if (value.Length == 0)
            {
                if (query._skipped.Admit())
                    query._logger.LogWarning("table \"{Table}\": empty lookup result for: \"{Key}\" -- ignored", query.TableName, key);
                return true;
            }
            if (!query._result.ExpandResult(value, key, query._needs, query._labels, _into)) return true;
            if (query.ExpansionLimit > 0 && ++_expansions > query.ExpansionLimit)
            {
                if (query._skipped.Admit())
                    query._logger.LogWarning("{Table}: Expansion limit exceeded for key: '{Key}'", query.TableName, key);
                return false;
            }
            return true;
        }

        /// <summary>Found with the joined value, or not found when nothing was expanded.</summary>
        public LookupResult Result => _into.Length > 0 ? LookupResult.Found(_into.ToString()) : LookupResult.NotFound;
    }

    public ValueTask DisposeAsync()
    {
        _skipped.Dispose();
        return Domain?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
