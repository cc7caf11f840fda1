using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Memcache;

/// <summary>
/// Every memcache_table(5) parameter with its default and the validation of spec 3.1,
/// read once at open. <see cref="Backup"/> and <see cref="Domain"/> hold the tables opened
/// for them (owned by the <see cref="MemcacheTable"/>).
/// </summary>
public sealed record MemcacheSettings(
    EndpointSpec Memcache,
    ITable? Backup,
    int Flags,
    int Ttl,
    KeyFormat KeyFormat,
    KeyDigest? KeyDigest,
    DomainFilter? Domain,
    int DataSizeLimit,
    int LineSizeLimit,
    int MaxTry,
    int RetryPause,
    int Timeout,
    bool FoldKeys,
    int MaxConnections = MemcacheSettings.DefaultMaxConnections,
    int WarningInterval = MemcacheSettings.DefaultWarningInterval,
    bool Smtputf8Enable = true,
    IReadOnlyList<MemcacheNodeSpec>? Nodes = null,
    int NodeFailures = MemcacheSettings.DefaultNodeFailures,
    int NodeRetry = MemcacheSettings.DefaultNodeRetry,
    int Replicas = 1)
{
    public const string DefaultMemcache = "inet:localhost:11211";

    /// <summary>
    /// POLICY <c>memcache_connections</c> (INI map section only): most connections a map keeps to
    /// its memcached; the extra ones open only while every open connection waits on a slow
    /// reply. 8 lets 8 requests proceed in parallel (memcached's default is 4 worker threads; a
    /// slow reply usually means a busy worker or network, not all of them) while staying far
    /// below memcached's default limit of 1024 connections across a fleet of servers.
    /// </summary>
    public const int DefaultMaxConnections = 8;

    /// <summary>POLICY <c>warning_interval</c>: seconds between summaries of a repeated warning (0: log each).</summary>
    public const int DefaultWarningInterval = 10;

    /// <summary>
    /// POLICY <c>memcache_node_failures</c> (with <c>memcache_nodes</c>): consecutive requests a
    /// node fails (unreachable, I/O error, timeout) before it is ejected. 2: one failure may be
    /// a restart or a dropped connection; two in a row, each after Postfix's whole attempt
    /// loop, mean its keys are better answered from the backup at once.
    /// </summary>
    public const int DefaultNodeFailures = 2;

    /// <summary>POLICY <c>memcache_node_retry</c>: seconds an ejected node is left alone before it is tried again.</summary>
    public const int DefaultNodeRetry = 30;

    /// <summary>Whether the map spreads its keys over several memcached nodes (more than one in <c>memcache_nodes</c>).</summary>
    public bool IsMultiNode => Nodes is { Count: > 1 };

    /// <summary>
    /// The memcached endpoints this map's keys can go to: each node of <c>memcache_nodes</c>
    /// when there are several, else its one <c>memcache</c> (a single node is that memcache).
    /// </summary>
    public IReadOnlyList<EndpointSpec> Servers => IsMultiNode ? [.. Nodes!.Select(n => n.Endpoint)] : [Memcache];

    /// <summary>Defaults of 3.1 with the given endpoint (for tests and tools).</summary>
    public static MemcacheSettings Defaults(EndpointSpec memcache) => new(
        memcache, null, Flags: 0, Ttl: 3600, KeyFormat.Default, null, null,
        DataSizeLimit: 10240, LineSizeLimit: 1024, MaxTry: 2, RetryPause: 1, Timeout: 2, FoldKeys: true);

    /// <summary>
    /// Reads and validates the parameters. Throws <see cref="ConfigException"/> naming the
    /// parameter, file and line. Unknown names are ignored (the .cf reader already warned).
    /// </summary>
    public static MemcacheSettings Parse(IReadOnlyDictionary<string, ConfigValue> p,
        ITableFactory tables, string baseDirectory, string logName, ILogger logger)
    {
        var memcache = ParseEndpoint(p.GetValueOrDefault("memcache"));
        int flags = Int(p, "flags", 0, int.MinValue);
        int ttl = Int(p, "ttl", 3600, int.MinValue);
        int dataSize = Int(p, "data_size_limit", 10240, 1);
        int lineSize = Int(p, "line_size_limit", 1024, 1);
        int maxTry = Int(p, "max_try", 2, 1);
        int retryPause = Int(p, "retry_pause", 1, 1);
        int timeout = Int(p, "timeout", 2, int.MinValue);
        bool fold = Bool(p, "fold_keys", true);
        // A missing backup file is a start-up error unless the map asks for an empty one.
        var backupOptions = new TableOpenOptions(CreateMissing: Bool(p, "backup_create", false));
        int connections = Int(p, "memcache_connections", DefaultMaxConnections, MemcachedClient.ConnectionsPerEndpoint);
        int warningInterval = Int(p, "warning_interval", DefaultWarningInterval, 0);
        bool utf8 = Bool(p, "smtputf8_enable", true);
        // Several nodes (INI map section only; the .cf keeps the one memcache Postfix reads).
        // One node is the memcache_table(5) case: that node is the map's memcache.
        IReadOnlyList<MemcacheNodeSpec>? nodes = null;
        if (p.TryGetValue("memcache_nodes", out var nv))
        {
            nodes = MemcacheNodeSpec.ParseList(nv);
            if (nodes.Count == 1)
            {
                memcache = nodes[0].Endpoint;
                nodes = null;
            }
        }
        int nodeFailures = Int(p, "memcache_node_failures", DefaultNodeFailures, 1);
        int nodeRetry = Int(p, "memcache_node_retry", DefaultNodeRetry, 1);
        int replicas = Int(p, "replicas", 1, 1);
        if (nodes is not null && replicas > nodes.Count)
            throw new ConfigException($"invalid parameter value {replicas} > {nodes.Count} (the number of memcache_nodes)", p["replicas"]);
        if (utf8 && CaseFolding.Unavailable is { } missing)
        {
            string why = "smtputf8_enable = yes (the default) needs Unicode case folding: " + missing;
            throw p.TryGetValue("smtputf8_enable", out var at) ? new ConfigException(why, at) : new ConfigException(why);
        }
        // UTF-8 mode (spec 3.3): the backup and the domain-list tables sit behind the UTF-8 layer too.
        var backupTables = utf8 ? new Utf8TableFactory(tables, fold, logger) : tables;
        var domainTables = utf8 ? new Utf8TableFactory(tables, foldKeys: false, logger) : tables;

        var keyFormat = KeyFormat.Default;
        if (p.TryGetValue("key_format", out var kf))
            keyFormat = KeyFormat.Parse(kf.Value, out var error) ?? throw new ConfigException(error!, kf);

        KeyDigest? digest = null;
        if (p.TryGetValue("key_digest", out var kd) && kd.Value.Length > 0)
            digest = KeyDigest.Create(kd.Value) ?? throw new ConfigException(
                $"unsupported digest algorithm \"{kd.Value}\" (supported: sha256, sha1, sha384, sha512, md5)", kd);

        DomainFilter? domain = null;
        ITable? backup = null;
        try
        {
            if (p.TryGetValue("domain", out var dv) && dv.Value.Length > 0)
                domain = DomainFilter.Parse(dv, domainTables, baseDirectory, logName, logger, TimeSpan.FromSeconds(warningInterval), utf8);
            if (p.TryGetValue("backup", out var bv) && bv.Value.Length > 0)
            {
                if (!bv.Value.Contains(':'))
                    throw new ConfigException($"need \"type:name\" table, not \"{bv.Value}\"", bv);
                try { backup = backupTables.Open(bv.Value, baseDirectory, backupOptions); }
                catch (ConfigException e) { throw new ConfigException($"cannot open {bv.Value}: {e.Message}", bv, e); }
            }
        }
        catch
        {
            if (domain is not null) _ = domain.DisposeAsync().AsTask();
            throw;
        }

        return new MemcacheSettings(memcache, backup, flags, ttl, keyFormat, digest, domain,
            dataSize, lineSize, maxTry, retryPause, timeout, fold, connections, warningInterval, utf8,
            nodes, nodeFailures, nodeRetry, replicas);
    }

    private static EndpointSpec ParseEndpoint(ConfigValue? v)
    {
        if (v is null) return EndpointSpec.TryParse(DefaultMemcache, out _)!;
        if (v.Value.Length == 0) throw new ConfigException("empty memcache server specification", v);
        return EndpointSpec.TryParse(v.Value, out var error) ?? throw new ConfigException(error!, v);
    }

    private static int Int(IReadOnlyDictionary<string, ConfigValue> p, string name, int def, int min)
    {
        if (!p.TryGetValue(name, out var v)) return def;
        if (!TryParseInt(v.Value, out int n))
            throw new ConfigException($"bad numerical configuration: {v.Value}", v);
        if (n < min)
            throw new ConfigException($"invalid parameter value {n} < {min}", v);
        return n;
    }

    /// <summary>
    /// Postfix's integer syntax (3.1): optional leading whitespace, optional sign, decimal
    /// digits and nothing else, within a signed 32-bit int.
    /// </summary>
    public static bool TryParseInt(string s, out int value)
    {
        value = 0;
        int i = 0;
        while (i < s.Length && s[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r') i++;
        bool negative = false;
        if (i < s.Length && s[i] is '+' or '-') negative = s[i++] == '-';
        if (i == s.Length) return false;
        long n = 0;
        for (; i < s.Length; i++)
        {
            if (s[i] < '0' || s[i] > '9') return false;
            n = n * 10 + (s[i] - '0');
            if (n > 1L + int.MaxValue) return false;
        }
        if (negative) n = -n;
        if (n < int.MinValue || n > int.MaxValue) return false;
        value = (int)n;
        return true;
    }

    private static bool Bool(IReadOnlyDictionary<string, ConfigValue> p, string name, bool def)
    {
        if (!p.TryGetValue(name, out var v)) return def;
        if (v.Value.Equals("yes", StringComparison.OrdinalIgnoreCase)) return true;
        if (v.Value.Equals("no", StringComparison.OrdinalIgnoreCase)) return false;
        throw new ConfigException($"bad boolean configuration: {v.Value} (expected yes or no)", v);
    }
}
