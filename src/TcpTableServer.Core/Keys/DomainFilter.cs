using System.Text;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys;

/// <summary>Outcome of the <c>domain</c> check (spec 3.2 step 2, 5.2).</summary>
public readonly record struct DomainCheck(bool Matches, ErrorClass Error)
{
    public static readonly DomainCheck Match = new(true, ErrorClass.None);
    public static readonly DomainCheck Mismatch = new(false, ErrorClass.None);
    public bool IsError => Error != ErrorClass.None;
}

/// <summary>
/// The memcache <c>domain</c> list (spec section 5): literal domains, <c>!</c> negation,
/// <c>/file</c> inclusion and <c>type:name</c> tables. Parsed once at open; the first
/// matching pattern decides. Owns the tables it opened.
/// </summary>
public sealed class DomainFilter : IAsyncDisposable
{
    private const string Separators = ", \t\r\n";

    private sealed record Pattern(bool Negated, string? Literal, ITable? Table);

    private readonly Pattern[] _patterns;
    private readonly string _logName;
    private readonly ILogger _logger;
    private readonly Logging.LogThrottle _lookupProblems;   // one per map: a failing table fails every lookup
    private readonly bool _unicode;

    private DomainFilter(Pattern[] patterns, string logName, ILogger logger, TimeSpan? warningWindow, bool unicode)
    {
        _patterns = patterns;
        _logName = logName;
        _logger = logger;
        _lookupProblems = new Logging.LogThrottle(logger, LogLevel.Warning, $"{logName}: domain table lookup problems", warningWindow);
        _unicode = unicode;
    }

    /// <summary>Number of patterns after parsing (files inlined).</summary>
    public int Count => _patterns.Length;

    /// <summary>
    /// Parses the list in <paramref name="at"/> (5.1). Throws <see cref="ConfigException"/>
    /// for <c>!</c> without a pattern, an unreadable file or a table that cannot be opened
    /// (3.11 POLICY: refuse to start). <paramref name="logName"/> prefixes warnings.
    /// <paramref name="unicode"/>: UTF-8 mode (smtputf8_enable = yes), where patterns and domains
    /// are compared after Unicode case folding (<see cref="CaseFolding.Fold(string)"/>), else A-Z only.
    /// </summary>
    public static DomainFilter Parse(ConfigValue at, ITableFactory tables, string baseDirectory,
        string logName, ILogger logger, TimeSpan? warningWindow = null, bool unicode = false)
    {
        var patterns = new List<Pattern>();
        try
        {
            ParseList(at.Value, negated: false, patterns, at, tables, baseDirectory, logger, unicode);
            return new DomainFilter([.. patterns], logName, logger, warningWindow, unicode);
        }
        catch
        {
            foreach (var p in patterns)
                if (p.Table is not null) _ = p.Table.DisposeAsync().AsTask();
            throw;
        }
    }

    private static void ParseList(string list, bool negated, List<Pattern> into, ConfigValue at,
        ITableFactory tables, string baseDirectory, ILogger logger, bool unicode)
    {
        int pos = 0;
        while (NextToken(list, ref pos) is { } token)
        {
            if (token[0] == '#')
            {
                logger.LogWarning("{File}:{Line}: {Name}: #comment after other text is not allowed: {Rest}",
                    at.File, at.Line, at.Name, list[(pos - token.Length)..].TrimEnd());
                break;
            }
            bool neg = negated;
            int i = 0;
            while (i < token.Length && token[i] == '!') { neg = !neg; i++; }
            string item = token[i..];
            if (item.Length == 0)
                throw new ConfigException("no pattern after '!'", at);
            if (item[0] == '/')
            {
                string text;
                try { text = Octets.FromBytes(File.ReadAllBytes(item)); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new ConfigException($"open file {item}: {e.Message}", at, e);
                }
                foreach (var line in LogicalLines.Read(text, item, logger))
                    ParseList(line.Text, neg, into, at, tables, baseDirectory, logger, unicode);
            }
            else if (item[0] != '[' && item.Contains(':'))
            {
                ITable table;
                try { table = tables.Open(item, baseDirectory); }
                catch (ConfigException e)
                {
                    throw new ConfigException($"table {item}: {e.Message}", at, e);
                }
                into.Add(new Pattern(neg, null, table));
            }
            else
            {
                into.Add(new Pattern(neg, CaseFolding.Fold(item, unicode), null));
            }
        }
    }

    /// <summary>Postfix mystrtokq: split at separator runs, never inside balanced braces.</summary>
    private static string? NextToken(string s, ref int pos)
    {
        while (pos < s.Length && Separators.Contains(s[pos])) pos++;
        if (pos >= s.Length) return null;
        int start = pos, level = 0;
        for (; pos < s.Length; pos++)
        {
            char c = s[pos];
            if (c == '{') level++;
            else if (level > 0 && c == '}') level--;
            else if (level == 0 && Separators.Contains(c)) break;
        }
        return s[start..pos];
    }

    /// <summary>
    /// Matches the domain of the original key <paramref name="key"/> (5.2): the text after
    /// the last <c>@</c>; no <c>@</c> or an empty localpart never matches.
    /// </summary>
    public async ValueTask<DomainCheck> CheckAsync(string key, CancellationToken ct)
    {
        int at = key.LastIndexOf('@');
        if (at <= 0) return DomainCheck.Mismatch;
        // An ASCII domain folds A-Z only in either mode, so a literal compares in place; a
        // non-ASCII one in UTF-8 mode is folded once, as is the domain a table is asked for.
        bool foldFirst = _unicode && !Ascii.IsValid(key.AsSpan(at + 1));
        string? domain = null;
        foreach (var p in _patterns)
        {
            bool hit;
            if (p.Table is null)
            {
                hit = foldFirst
                    ? (domain ??= CaseFolding.Fold(key.AsSpan(at + 1), _unicode)) == p.Literal
                    : Octets.EqualsFolded(key.AsSpan(at + 1), p.Literal);
            }
            else
            {
                domain ??= CaseFolding.Fold(key.AsSpan(at + 1), _unicode);
                var r = await p.Table.LookupAsync(domain, ct).ConfigureAwait(false);
                if (r.IsError)
                {
                    if (_lookupProblems.Admit())
                        _logger.LogWarning("{Table}: {Pattern}: table lookup problem", _logName, p.Table.Name);
                    return new DomainCheck(false,
                        r.Status == LookupStatus.ConfigError ? ErrorClass.Config : ErrorClass.Retry);
                }
                hit = r.Status == LookupStatus.Found;
            }
            if (hit) return p.Negated ? DomainCheck.Mismatch : DomainCheck.Match;
        }
        return DomainCheck.Mismatch;
    }

    public async ValueTask DisposeAsync()
    {
        _lookupProblems.Dispose();
        foreach (var p in _patterns)
            if (p.Table is not null) await p.Table.DisposeAsync().ConfigureAwait(false);
    }
}
