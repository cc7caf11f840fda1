namespace TcpTableServer.Config;

/// <summary>The whole server configuration, parsed once from the INI file (immutable).</summary>
public sealed record ServerDefinition(
    string IniPath,
    IReadOnlyList<EndpointSpec> SocketmapListeners,
    IReadOnlyList<MapDefinition> Maps,
    ServerOptions Options);

/// <summary>[server] options besides the listeners.</summary>
public sealed record ServerOptions(
    TimeSpan SocketmapIdleTimeout,
    TimeSpan? TcpIdleTimeout,
    int? MaxConnections,
    TimeSpan ShutdownTimeout);

/// <summary>
/// One [maps:NAME] section. <see cref="Parameters"/> holds every memcache_table(5)
/// parameter (from the .cf file named by "config", overridden by the INI section) plus the
/// per-map policy options (fold_keys, ...) that the memcache table reads; server-side
/// options (config, tcp, allow_put) are taken out.
/// </summary>
public sealed record MapDefinition(
    string Name,
    string BaseDirectory,
    IReadOnlyDictionary<string, ConfigValue> Parameters,
    EndpointSpec? TcpListener,
    bool AllowPut);
