namespace TcpTableServer.Config;

/// <summary>
/// The parameter names a map accepts: the memcache_table(5) parameters (spec 3.1, read from a
/// .cf file or the INI map section) and the server's per-map policy options (spec 3.3
/// <c>fold_keys</c>, <c>smtputf8_enable</c>), which only the INI map section accepts. Names are case-sensitive.
/// </summary>
public static class MemcacheParameterNames
{
    /// <summary>memcache_table(5) parameters, in manual order (spec 3.1).</summary>
    public static readonly IReadOnlyList<string> Memcache =
    [
        "memcache", "backup", "flags", "ttl", "key_format", "key_digest", "domain",
        "data_size_limit", "line_size_limit", "max_try", "retry_pause", "timeout",
    ];

    /// <summary>Per-map POLICY options (yes/no booleans) that are not memcache_table(5) parameters.</summary>
    public static readonly IReadOnlyList<string> PolicyBooleans = ["fold_keys", "backup_create", "smtputf8_enable"];

    /// <summary>
    /// Per-map POLICY options (integers) that are not memcache_table(5) parameters:
    /// <c>memcache_connections</c> (most connections to memcached) and <c>warning_interval</c>
    /// (seconds between summaries of a repeated warning; 0 = every warning, as Postfix);
    /// <c>memcache_node_failures</c>, <c>memcache_node_retry</c> and <c>replicas</c> go with
    /// <c>memcache_nodes</c> (several memcached nodes on a ketama ring).
    /// </summary>
    public static readonly IReadOnlyList<string> PolicyIntegers =
        ["memcache_connections", "warning_interval", "memcache_node_failures", "memcache_node_retry", "replicas"];

    /// <summary>
    /// Per-map POLICY options (text): <c>memcache_nodes</c>, the memcached nodes of the map
    /// (endpoints with optional <c>weight=N</c>, comma-separated).
    /// </summary>
    public static readonly IReadOnlyList<string> PolicyStrings = ["memcache_nodes"];

    private static readonly HashSet<string> MemcacheSet = new(Memcache, StringComparer.Ordinal);
    private static readonly HashSet<string> PolicySet = new(PolicyBooleans, StringComparer.Ordinal);
    private static readonly HashSet<string> PolicyIntegerSet = new(PolicyIntegers, StringComparer.Ordinal);
    private static readonly HashSet<string> PolicyStringSet = new(PolicyStrings, StringComparer.Ordinal);

    /// <summary>True for a memcache_table(5) parameter name (exact case).</summary>
    public static bool IsMemcache(string name) => MemcacheSet.Contains(name);

    /// <summary>True for a per-map policy option name (exact case).</summary>
    public static bool IsPolicyBoolean(string name) => PolicySet.Contains(name);

    /// <summary>True for a per-map integer policy option name (exact case).</summary>
    public static bool IsPolicyInteger(string name) => PolicyIntegerSet.Contains(name);

    /// <summary>True for a per-map text policy option name (exact case).</summary>
    public static bool IsPolicyString(string name) => PolicyStringSet.Contains(name);
}
