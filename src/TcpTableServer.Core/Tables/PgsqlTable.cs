using System.Text;
using Microsoft.Extensions.Logging;
using Npgsql;
using TcpTableServer.Config;
using TcpTableServer.Keys;
using TcpTableServer.Memcache;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>pgsql:/etc/postfix/x.cf</c>, Postfix's pgsql_table(5): the <c>query</c> expanded with
/// each key piece quoted as PQescapeStringConn() does (<c>'</c> doubled, and <c>\</c> too when
/// the server has standard_conforming_strings off; with <c>encoding = UTF8</c>, the default
/// since Postfix 3.8, a piece that is not valid UTF-8 cannot be quoted: a temporary error),
/// every column of every row of the last result joined (<see cref="SqlQuery"/>). Values are
/// read in PostgreSQL's text form, as PQgetvalue() gives them; a NULL reads as empty (warned
/// and skipped, as in Postfix). <c>encoding = LATIN1</c> (what Postfix before 3.8 always
/// used) passes key and value octets as LATIN1 characters, the server converting them.
/// <para>
/// <c>hosts</c> are tried as dict_pgsql tries them: hosts that answered before first, UNIX
/// sockets before TCP before URIs, at random among equals; a host that fails (connect, query
/// or escape error) is left alone for <c>retry_interval</c> seconds; when every host failed
/// the lookup is a temporary error. A single host is listed twice, as Postfix does, so one
/// failure does not end the lookup. Each host has a pool of connections (Npgsql; idle ones
/// closed after <c>idle_interval</c>); everything is awaited, bounded by
/// <see cref="ConnectTimeout"/> and <see cref="QueryTimeout"/>.
/// </para>
/// </summary>
public sealed class PgsqlTable : SqlTable
{
    /// <summary>Parameters of pgsql_table(5) (others are warned about).</summary>
    public static readonly IReadOnlyList<string> ParameterNames =
        [.. SqlQuery.CommonNames, "hosts", "user", "password", "dbname", "encoding", "retry_interval", "idle_interval", "select_function"];

    /// <summary>How long a connection attempt to one host may take (libpq has no limit: Postfix's waits for TCP).</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long one query may take before the host counts as failed.</summary>
    public static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Connections per host at most (PostgreSQL's default max_connections is 100, shared with
    /// every other client): a burst of lookups beyond this waits for a free connection, at
    /// most <see cref="ConnectTimeout"/>.
    /// </summary>
    public const int MaxConnections = 16;

    private enum HostKind : byte { Unix, Inet, Uri }

    private sealed class Host(string label, HostKind kind, NpgsqlDataSource source)
    {
        public readonly string Label = label;
        public readonly HostKind Kind = kind;
        public readonly NpgsqlDataSource Source = source;
        public volatile bool Active;      // the last query succeeded
        public long DownUntil;            // Environment.TickCount64 before which the host is left alone
    }

    private readonly Host[] _hosts;
    private readonly long _retryMs;
    private readonly bool _latin1;   // encoding = LATIN1: octets are characters, nothing to validate or convert

    private PgsqlTable(string name, SqlQuery query, Host[] hosts, int retryInterval, bool latin1, ILogger logger)
        : base(name, query, logger)
    {
        _latin1 = latin1;
        _hosts = hosts;
        _retryMs = retryInterval * 1000L;
    }

    /// <summary>
    /// Opens the .cf file <paramref name="path"/> (<paramref name="name"/> as configured).
    /// Throws <see cref="ConfigException"/> for a bad file, as Postfix refuses such a table.
    /// No connection is made here: a database that is down at start-up is a temporary error
    /// per lookup, as in Postfix, not a refusal to start.
    /// </summary>
    public static PgsqlTable Open(string name, string path, ITableFactory tables, TableOpenOptions options, ILogger logger)
    {
        var cf = CfFile.Read(path, logger, n => ParameterNames.Contains(n), "pgsql_table(5)");
        string tableName = "pgsql:" + name;
        string Str(string n) => cf.TryGetValue(n, out var v) ? v.Value : "";
        int Int(string n, int def, int min)
        {
            if (!cf.TryGetValue(n, out var v)) return def;
            if (!MemcacheSettings.TryParseInt(v.Value, out int i)) throw new ConfigException($"bad numerical configuration: {v.Value}", v);
            if (i < min) throw new ConfigException($"invalid parameter value {i} < {min}", v);
            return i;
        }
        bool latin1 = false;
        if (cf.TryGetValue("encoding", out var enc))
        {
            string e = enc.Value.Replace("-", "").Replace("_", "").ToUpperInvariant();
            latin1 = e is "LATIN1" or "ISO88591";
            if (!latin1 && e is not ("UTF8" or "UNICODE"))
                throw new ConfigException($"encoding {enc.Value} is not supported (UTF8 or LATIN1)", enc);
        }
        int retry = Int("retry_interval", 60, 1), idle = Int("idle_interval", 60, 1);
        string? selectFunction = cf.TryGetValue("select_function", out var sf) ? $"SELECT {sf.Value}('%s')" : null;
        var query = SqlQuery.Parse(tableName, cf, path, selectFunction, tables, options, logger);
        var hosts = new List<Host>();
        var sources = new Dictionary<string, NpgsqlDataSource>(StringComparer.Ordinal);
        try
        {
            if (!latin1 && !System.Text.Unicode.Utf8.IsValid(Octets.ToBytes(query.Template)))
                throw new ConfigException("query is not valid UTF-8", cf.GetValueOrDefault("query") ?? new ConfigValue("query", "", path, 0));
            var specs = Str("hosts").Split([',', ' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries).ToList();
            if (specs.Count == 0) specs.Add("localhost");
            if (specs.Count == 1) specs.Add(specs[0]);   // "Don't blacklist the load balancer!"
            if (specs.Count > 64) throw new ConfigException("more than 64 hosts", cf["hosts"]);
            foreach (var spec in specs)
            {
                var (kind, builder) = HostBuilder(spec, cf.GetValueOrDefault("hosts"), path);
                if (kind != HostKind.Uri)
                {
                    if (Str("dbname").Length == 0)
                        throw new ConfigException($"host target '{spec}' requires dbname setting", cf.GetValueOrDefault("hosts") ?? new ConfigValue("hosts", "", path, 0));
                    builder.Database = Octets.ToDisplay(Str("dbname"));
                    if (Str("user").Length > 0) builder.Username = Octets.ToDisplay(Str("user"));
                    if (Str("password").Length > 0) builder.Password = Octets.ToDisplay(Str("password"));
                }
                // the client encoding is set at connect; the driver's text encoding matches it
                builder.ClientEncoding = latin1 ? "LATIN1" : "UTF8";
                builder.Encoding = latin1 ? "ISO-8859-1" : "UTF-8";
                builder.Pooling = true;
                builder.MinPoolSize = 0;
                builder.MaxPoolSize = MaxConnections;
                builder.Timeout = (int)ConnectTimeout.TotalSeconds;
                builder.CommandTimeout = (int)QueryTimeout.TotalSeconds;
                builder.ConnectionIdleLifetime = idle;
                builder.ConnectionPruningInterval = Math.Min(10, idle);
                builder.Enlist = false;
                builder.ApplicationName ??= "tcptableserver";
                // a host listed twice (a single host always is) is one pool of connections
                if (!sources.TryGetValue(builder.ConnectionString, out var source))
                {
                    var sb = new NpgsqlSlimDataSourceBuilder(builder.ConnectionString);
                    sb.ConfigureTypeLoading(t => t.EnableTypeLoading(false));   // values are read as text
                    sources.Add(builder.ConnectionString, source = sb.Build());
                }
                hosts.Add(new Host(spec, kind, source));
            }
            return new PgsqlTable(tableName, query, [.. hosts], retry, latin1, logger);
        }
        catch
        {
            foreach (var source in sources.Values) source.Dispose();
            _ = query.DisposeAsync().AsTask();
            throw;
        }
    }

    /// <summary>
    /// One <c>hosts</c> entry as dict_pgsql's host_init reads it: a URI (scheme://...), or
    /// <c>unix:/dir</c> / <c>/dir</c> (a socket directory), or <c>inet:host[:port]</c> /
    /// <c>host[:port]</c> (the port after the last ':').
    /// </summary>
    private static (HostKind, NpgsqlConnectionStringBuilder) HostBuilder(string spec, ConfigValue? at, string path)
    {
        at ??= new ConfigValue("hosts", spec, path, 0);
        int scheme = spec.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0 && char.IsAsciiLetter(spec[0]) && spec[..scheme].All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.'))
            return (HostKind.Uri, FromUri(spec, scheme, at));
        string d = spec.StartsWith("unix:", StringComparison.Ordinal) || spec.StartsWith("inet:", StringComparison.Ordinal) ? spec[5..] : spec;
        var b = new NpgsqlConnectionStringBuilder();
        if (d.Length > 0 && d[0] != '/')
        {
            int colon = d.LastIndexOf(':');
            b.Host = colon < 0 ? d : d[..colon];
            if (colon >= 0)
                b.Port = int.TryParse(d[(colon + 1)..], out int port) && port is > 0 and < 65536 ? port
                    : throw new ConfigException($"bad port in host '{spec}'", at);
            return (HostKind.Inet, b);
        }
        b.Host = d.Length > 0 ? d : "/var/run/postgresql";   // libpq's default socket directory on Debian
        return (HostKind.Unix, b);
    }

    /// <summary>A libpq connection URI, postgresql://[user[:password]@][host][:port][/dbname][?param=value&amp;...].</summary>
    private static NpgsqlConnectionStringBuilder FromUri(string uri, int scheme, ConfigValue at)
    {
        string s = uri[..scheme];
        if (s is not ("postgresql" or "postgres"))
            throw new ConfigException($"host target '{uri}': unsupported URI scheme {s}", at);
        string rest = uri[(scheme + 3)..];
        int q = rest.IndexOf('?');
        string parameters = q < 0 ? "" : rest[(q + 1)..];
        if (q >= 0) rest = rest[..q];
        int slash = rest.IndexOf('/');
        string authority = slash < 0 ? rest : rest[..slash];
        var b = new NpgsqlConnectionStringBuilder();
        if (slash >= 0 && slash + 1 < rest.Length) b.Database = Uri.UnescapeDataString(rest[(slash + 1)..]);
        int atSign = authority.LastIndexOf('@');
        if (atSign >= 0)
        {
            string user = authority[..atSign];
            int colon = user.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon < 0 ? user : user[..colon]);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(user[(colon + 1)..]);
            authority = authority[(atSign + 1)..];
        }
        if (authority.Contains(','))
            throw new ConfigException($"host target '{uri}': several hosts in one URI are not supported (list them in hosts)", at);
        int portColon = authority.StartsWith('[') ? authority.IndexOf("]:", StringComparison.Ordinal) + 1 : authority.LastIndexOf(':');
        string host = portColon > 0 ? authority[..portColon] : authority;
        if (portColon > 0)
            b.Port = int.TryParse(authority[(portColon + 1)..], out int port) && port is > 0 and < 65536 ? port
                : throw new ConfigException($"host target '{uri}': bad port", at);
        b.Host = host.Length > 0 ? Uri.UnescapeDataString(host.Trim('[', ']')) : "/var/run/postgresql";
        foreach (var pair in parameters.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]), value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            try
            {
                switch (key)
                {
                    case "host": b.Host = value; break;
                    case "port": b.Port = int.Parse(value); break;
                    case "dbname": b.Database = value; break;
                    case "user": b.Username = value; break;
                    case "password": b.Password = value; break;
                    case "sslmode": b.SslMode = Enum.Parse<SslMode>(value.Replace("-", ""), ignoreCase: true); break;
                    case "application_name": b.ApplicationName = value; break;
                    case "connect_timeout": b.Timeout = int.Parse(value); break;
                    default: throw new ArgumentException("unsupported parameter");
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
            {
                throw new ConfigException($"host target '{uri}': {key}={value}: {e.Message}", at, e);
            }
        }
        return b;
    }

    /// <summary>PQescapeStringConn with standard_conforming_strings on (' doubled) or off (' and \ doubled), for UTF8 and LATIN1.</summary>
    private static readonly KeyQuote QuoteStandard = (p, into) => Escape(p, into, backslash: false, utf8: true);
    private static readonly KeyQuote QuoteBackslash = (p, into) => Escape(p, into, backslash: true, utf8: true);
    private static readonly KeyQuote QuoteStandardLatin1 = (p, into) => Escape(p, into, backslash: false, utf8: false);
    private static readonly KeyQuote QuoteBackslashLatin1 = (p, into) => Escape(p, into, backslash: true, utf8: false);

    /// <summary>
    /// PQescapeStringConn. On a UTF8 connection a piece that is not valid UTF-8 cannot be
    /// escaped (libpq reports an error): marked with a NUL, which no key or query holds, so
    /// the caller answers a temporary error instead of sending the query. LATIN1 has no
    /// invalid bytes.
    /// </summary>
    private static void Escape(ReadOnlySpan<char> piece, StringBuilder into, bool backslash, bool utf8)
    {
        if (!utf8 || CaseFolding.IsValidUtf8(piece))   // pieces of a key, which holds no NUL (SqlTable)
        {
            foreach (char c in piece)
            {
                if (c == '\'' || (backslash && c == '\\')) into.Append(c);
                into.Append(c);
            }
        }
        else into.Append('\0');
    }

    protected override async ValueTask<LookupResult> QueryAsync(string key, CancellationToken ct)
    {
        ulong tried = 0;
        while (Pick(ref tried) is { } host)
        {
            try
            {
                await using var connection = await host.Source.OpenConnectionAsync(ct).ConfigureAwait(false);
                bool backslash = connection.PostgresParameters.TryGetValue("standard_conforming_strings", out var scs) && scs == "off";
                string sql = Query.Expand(key, (backslash, _latin1) switch
                {
                    (false, false) => QuoteStandard,
                    (true, false) => QuoteBackslash,
                    (false, true) => QuoteStandardLatin1,
                    (true, true) => QuoteBackslashLatin1,
                });
                if (sql.Contains('\0'))
                {
                    // Postfix marks the host failed and tries the next, so an unquotable key
                    // ends with every host left alone for retry_interval: we fail this key only.
                    if (AdmitWarning()) Logger.LogWarning("{Table}: (host {Host}) cannot escape input string: invalid UTF-8 in key", Name, host.Label);
                    return LookupResult.TempError;
                }
                await using var command = new NpgsqlCommand(_latin1 ? sql : Octets.ToDisplay(sql), connection) { AllResultTypesAreUnknown = true };
                var values = new List<string>();
                await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    do
                    {
                        values.Clear();   // PQexec answers with the last statement's result
                        while (await reader.ReadAsync(ct).ConfigureAwait(false))
                            for (int i = 0; i < reader.FieldCount; i++)
                                values.Add(reader.IsDBNull(i) ? "" : _latin1 ? reader.GetString(i) : Octets.FromUtf8(reader.GetString(i)));
                    } while (await reader.NextResultAsync(ct).ConfigureAwait(false));
                }
                host.Active = true;
                var results = Query.StartResults(key);
                foreach (var v in values)
                    if (!results.Add(v)) return LookupResult.TempError;
                return results.Result;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e)
            {
                if (AdmitWarning()) Logger.LogWarning("{Table}: pgsql query failed: host {Host}: {Error}", Name, host.Label, e.Message);
                host.Active = false;
                Volatile.Write(ref host.DownUntil, Environment.TickCount64 + _retryMs);
            }
        }
        if (AdmitWarning()) Logger.LogWarning("{Table}: no pgsql host answered: temporary error", Name);
        return LookupResult.TempError;
    }

    /// <summary>
    /// dict_pgsql_get_active: the next host to try, not yet tried in this lookup (the
    /// <paramref name="tried"/> bits) and not left alone after a failure: hosts that answered
    /// before first, then the others; within each, UNIX sockets, then TCP, then URIs; at random
    /// among equals. Null when none is left.
    /// </summary>
    private Host? Pick(ref ulong tried)
    {
        long now = Environment.TickCount64;
        for (int pass = 0; pass < 2; pass++)
        {
            for (var kind = HostKind.Unix; kind <= HostKind.Uri; kind++)
            {
                int count = 0;
                for (int i = 0; i < _hosts.Length; i++)
                    if (Eligible(i, pass, kind, tried, now)) count++;
                if (count == 0) continue;
                int pick = count > 1 ? Random.Shared.Next(count) : 0;
                for (int i = 0; i < _hosts.Length; i++)
                {
                    if (!Eligible(i, pass, kind, tried, now) || pick-- > 0) continue;
                    tried |= 1UL << i;
                    return _hosts[i];
                }
            }
        }
        return null;
    }

    private bool Eligible(int i, int pass, HostKind kind, ulong tried, long now)
    {
        var h = _hosts[i];
        return (tried & (1UL << i)) == 0 && h.Kind == kind && h.Active == (pass == 0)
            && Volatile.Read(ref h.DownUntil) <= now;
    }

    protected override async ValueTask CloseAsync()
    {
        foreach (var source in _hosts.Select(h => h.Source).Distinct()) await source.DisposeAsync().ConfigureAwait(false);
    }
}
