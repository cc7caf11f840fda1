namespace TcpTableServer.Config;

/// <summary>The whole server configuration, parsed once from the INI file (immutable).</summary>
public sealed record ServerDefinition(
    string IniPath,
    IReadOnlyList<EndpointSpec> SocketmapListeners,
    IReadOnlyList<MapDefinition> Maps,
    ServerOptions Options);

/// <summary>
/// [server] options besides the listeners. <paramref name="MaxConnections"/> null: the
/// default derived from the file descriptor limit at start (Protocols/FdLimit).
/// </summary>
public sealed record ServerOptions(
    TimeSpan? SocketmapIdleTimeout,
    TimeSpan? TcpIdleTimeout,
    int? MaxConnections,
    TimeSpan ShutdownTimeout)
{
    /// <summary><c>[server] allow</c>: who may connect to listeners without their own list (loopback always).</summary>
    public AllowList Allow { get; init; } = AllowList.LoopbackOnly;

    /// <summary><c>[server] user</c>: the user to serve as after binding, when started as root.</summary>
    public string? User { get; init; }

    /// <summary>
    /// <c>[server] metrics</c>: the HTTP listener of <c>GET /metrics</c> (Prometheus text) and
    /// <c>GET /health</c>, with its resolved allow list; null (the default): no such listener.
    /// </summary>
    public EndpointSpec? Metrics { get; init; }
}

/// <summary>
/// One [maps:NAME] section. <see cref="Parameters"/> holds every memcache_table(5)
/// parameter (from the .cf file named by "config", overridden by the INI section) plus the
/// per-map policy options (fold_keys, ...) that the memcache table reads; server-side
/// options (config, tcp, allow_put, l1_*) are taken out. <see cref="L1"/> is null when
/// the map has no L1 cache.
/// </summary>
public sealed record MapDefinition(
    string Name,
    string BaseDirectory,
    IReadOnlyDictionary<string, ConfigValue> Parameters,
    EndpointSpec? TcpListener,
    bool AllowPut,
    L1Options? L1 = null)
{
    /// <summary><c>put_allow</c>: the clients whose tcp <c>put</c> this map accepts (with allow_put = yes); loopback always.</summary>
    public AllowList PutAllow { get; init; } = AllowList.LoopbackOnly;

    /// <summary><c>deadline</c>: lookups not answered within it get a temporary error (null: none).</summary>
    public TimeSpan? Deadline { get; init; }

    /// <summary><c>partial_keys</c> and its Postfix parameters: the map repeats Postfix's partial-key search (null: off).</summary>
    public Keys.PartialKeys.PartialKeyOptions? PartialKeys { get; init; }
}

/// <summary>
/// The opt-in in-process L1 cache of a map (INI options <c>l1_ttl</c>,
/// <c>l1_size</c>, <c>l1_negative_ttl</c>, never in the memcache_table(5) .cf file): found
/// answers kept for <paramref name="Ttl"/>, not-found answers for
/// <paramref name="NegativeTtl"/> (zero: not kept), at most <paramref name="Size"/> entries.
/// </summary>
public sealed record L1Options(TimeSpan Ttl, int Size, TimeSpan NegativeTtl)
{
    public const int DefaultSize = 100000;
}
