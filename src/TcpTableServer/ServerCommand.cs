using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NLog.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Protocols;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;

namespace TcpTableServer.Host;

/// <summary>
/// Runs the server: configuration and maps are opened first (a bad configuration exits 78
/// naming file and line), then Kestrel serves one listener per endpoint with our
/// connection handlers. SIGTERM / Ctrl+C: stop accepting, answer in-flight requests, exit 0.
/// </summary>
public static class ServerCommand
{
    public static async Task<int> RunAsync(string ini, CancellationToken ct)
    {
        var loggers = Logging.Create(ini);
        var log = loggers.CreateLogger("TcpTableServer");
        ServerDefinition def;
        MapSet maps;
        try
        {
            def = ServerConfigLoader.Load(ini, log);
            maps = MapSet.Open(def, loggers);
        }
        catch (ConfigException e)
        {
            log.LogCritical("fatal: {Message}", e.Message);
            NLog.LogManager.Shutdown();
            return ExitCodes.Config;
        }

        await using (maps)
        {
            var gate = CreateGate(def, log, loggers);
            using var host = Build(def, maps, gate, loggers);
            try
            {
                await host.StartAsync(ct);
            }
            catch (Exception e) when (e is IOException or SocketException or InvalidOperationException)
            {
                log.LogCritical("fatal: cannot open a listener: {Message}", e.Message);
                NLog.LogManager.Shutdown();
                return ExitCodes.Unavailable;
            }
            // Listeners are bound and tables open: now the root privileges can go.
            if (Privileges.Drop(def.Options.User, log) is { } failed)
            {
                log.LogCritical("fatal: {Message}", failed);
                await host.StopAsync(CancellationToken.None);
                NLog.LogManager.Shutdown();
                return ExitCodes.Config;
            }
            foreach (var ep in def.SocketmapListeners)
                log.LogInformation("socketmap listening on {Endpoint} (maps: {Maps}; clients: {Allow})", ep, string.Join(", ", maps.Tables.Keys), ep.Allow);
            foreach (var m in def.Maps.Where(m => m.TcpListener is not null))
                log.LogInformation("tcp listening on {Endpoint} (map {Map}; clients: {Allow}{Put})", m.TcpListener, m.Name, m.TcpListener!.Allow,
                    m.AllowPut ? $"; put allowed from {m.PutAllow}" : "");
            log.LogInformation("ready");
            await host.WaitForShutdownAsync(ct);
            log.LogInformation("stopped");
        }
        NLog.LogManager.Shutdown();
        return ExitCodes.Found;
    }

    /// <summary>
    /// The connection limit: [server] max_connections, else the file descriptor limit minus
    /// <see cref="FdLimit.Reserve"/> (the runtime raised the soft limit to the hard one; a
    /// Native AOT build does it here).
    /// </summary>
    private static ConnectionGate CreateGate(ServerDefinition def, ILogger log, ILoggerFactory loggers)
    {
        FdLimit.Raise();
        long? fds = FdLimit.Current();
        int fromFds = FdLimit.DefaultMaxConnections(fds);
        int max = def.Options.MaxConnections ?? fromFds;
        if (max > fromFds)
            log.LogWarning("max_connections = {Max} leaves fewer than {Reserve} of the {Fds} file descriptors for memcached, tables and logs; a process out of descriptors stops serving (raise the limit: LimitNOFILE= in systemd)",
                max, FdLimit.Reserve, fds);
        log.LogInformation("connection limit {Max} (file descriptor limit {Fds})", max, fds?.ToString() ?? "none");
        MemoryTrim.Start();
        return new ConnectionGate(max, loggers.CreateLogger("TcpTableServer.Connections"));
    }

    private static IHost Build(ServerDefinition def, MapSet maps, ConnectionGate gate, ILoggerFactory loggers)
    {
        var listeners = new Dictionary<string, ListenerGate>(StringComparer.Ordinal);
        // A bare HostBuilder: no appsettings.json, environment or file-watcher sources (the
        // INI file is the configuration), which keeps start-up short.
        var builder = new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .UseSystemd()
            // no logging scopes: Kestrel opens one per connection (an AsyncLocal and about 170 bytes
            // per connection) and no layout of ours prints them
            .ConfigureLogging(l => { l.ClearProviders(); l.AddNLog(new NLogProviderOptions { IncludeScopes = false }); })
            .ConfigureServices(s => s.Configure<HostOptions>(o => o.ShutdownTimeout = def.Options.ShutdownTimeout))
            .ConfigureWebHost(web => web
                .UseSockets(o =>
                {
                    o.Backlog = 4096; // spec: listen backlog >= 1024 (OS caps at somaxconn)
                    o.UnsafePreferInlineScheduling = InlineExecution.Enabled;
                    // The most a connection makes the server buffer: one unfinished request of the
                    // largest size a codec accepts (MaxFrameLength, which counts one 4 KiB socket
                    // read of length digits); reading pauses only once more than that is buffered.
                    o.MaxReadBufferSize = SocketmapConnectionHandler.MaxFrameLength + 1;
                })
                .UseKestrelCore() // no HTTPS/HTTP configuration loading: listeners are connection handlers
                .ConfigureKestrel(k =>
                {
                    k.AddServerHeader = false;
                    var socketmap = new SocketmapConnectionHandler(maps.Tables, def.Options.SocketmapIdleTimeout,
                        loggers.CreateLogger<SocketmapConnectionHandler>());
                    foreach (var ep in def.SocketmapListeners)
                        Listen(k, ep, socketmap.OnConnectedAsync, $"socketmap {ep}", gate, listeners, loggers);
                    foreach (var map in def.Maps)
                    {
                        if (map.TcpListener is null) continue;
                        Listen(k, map.TcpListener, TcpHandler(map, maps, def, loggers), $"tcp {map.TcpListener}", gate, listeners, loggers);
                    }
                })
                // after UseKestrelCore: its registrations (transport, memory pool factory) are replaced;
                // an address Listen did not map (none expected) serves loopback only
                .ConfigureServices(s => GatedListenerFactory.Register(s, gate, ep =>
                    listeners.TryGetValue(ep.ToString() ?? "", out var l) ? l
                        : gate.AddListener($"listener {ep}", null, new AccessGate(AllowList.LoopbackOnly, $"{ep}", loggers.CreateLogger("TcpTableServer.Access")))))
                .Configure(_ => { })); // no HTTP: every listener ends in a connection handler
        return builder.Build();
    }

    /// <summary>
    /// A map's tcp listener: with allow_put = yes, a client inside put_allow (loopback and
    /// UNIX sockets always) gets a handler that runs puts, every other client one that answers
    /// them as not allowed (spec 1.8), so a put is decided per connection before a byte is read.
    /// </summary>
    private static ConnectionDelegate TcpHandler(MapDefinition map, MapSet maps, ServerDefinition def, ILoggerFactory loggers)
    {
        TcpTableConnectionHandler Handler(bool put) => new(maps.Tables[map.Name], put,
            def.Options.TcpIdleTimeout, loggers.CreateLogger<TcpTableConnectionHandler>());
        var readOnly = Handler(put: false);
        if (!map.AllowPut) return readOnly.OnConnectedAsync;
        var writable = Handler(put: true);
        return c => (c.RemoteEndPoint is not IPEndPoint ip || map.PutAllow.Allows(ip.Address) ? writable : readOnly)
            .OnConnectedAsync(c);
    }

    /// <summary>
    /// Binds <paramref name="ep"/> as listener <paramref name="name"/> of <paramref name="gate"/>;
    /// every socket address it binds is mapped to that listener in <paramref name="listeners"/>
    /// (keyed as the transport sees them).
    /// </summary>
    private static void Listen(KestrelServerOptions k, EndpointSpec ep, ConnectionDelegate handler, string name,
        ConnectionGate gate, Dictionary<string, ListenerGate> listeners, ILoggerFactory loggers)
    {
        // Clients outside the listener's allow list are closed at accept, before they count
        // against a connection limit and before a byte is read (loopback always passes).
        var access = new AccessGate(ep.Allow ?? AllowList.LoopbackOnly, ep.ToString(), loggers.CreateLogger("TcpTableServer.Access"));
        var listener = gate.AddListener(name, ep.MaxConnections, access);
        Action<ListenOptions> pipeline = l => l.Run(c => handler(c));
        if (ep.Kind == EndpointKind.Unix)
        {
            RemoveStaleSocket(ep.Path);
            listeners[new UnixDomainSocketEndPoint(ep.Path).ToString()] = listener;
            k.ListenUnixSocket(ep.Path, pipeline);
            return;
        }
        int port = ep.PortNumber;
        if (port is < 0 or > 65535) throw new ConfigException($"bad port \"{ep.Port}\" in listener {ep}");
        IPAddress[] addresses = IPAddress.TryParse(ep.Host, out var ip) ? [ip]
            : ep.Host == "localhost" ? [IPAddress.Loopback, IPAddress.IPv6Loopback]
            : Dns.GetHostAddresses(ep.Host);
        foreach (var a in addresses) listeners[new IPEndPoint(a, port).ToString()] = listener;
        if (ep.Host == "localhost" && ip is null) k.ListenLocalhost(port, pipeline);
        else
            foreach (var a in addresses) k.Listen(a, port, pipeline);
    }

    /// <summary>A socket file left by a previous run would make the bind fail; remove it, nothing else.</summary>
    private static void RemoveStaleSocket(string path)
    {
        if (File.Exists(path) && IsDeadSocket(path)) File.Delete(path);
    }

    private static bool IsDeadSocket(string path)
    {
        try
        {
            using (File.OpenRead(path)) return false; // a regular file opens; a socket does not (ENXIO)
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { return false; }
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
            return false; // somebody is serving there: leave it, the bind will report the conflict
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
