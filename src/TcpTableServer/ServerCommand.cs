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
            using var host = Build(def, maps, loggers);
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
            foreach (var ep in def.SocketmapListeners) log.LogInformation("socketmap listening on {Endpoint} (maps: {Maps})", ep, string.Join(", ", maps.Tables.Keys));
            foreach (var m in def.Maps.Where(m => m.TcpListener is not null))
                log.LogInformation("tcp listening on {Endpoint} (map {Map}{Put})", m.TcpListener, m.Name, m.AllowPut ? ", put allowed" : "");
            log.LogInformation("ready");
            await host.WaitForShutdownAsync(ct);
            log.LogInformation("stopped");
        }
        NLog.LogManager.Shutdown();
        return ExitCodes.Found;
    }

    private static IHost Build(ServerDefinition def, MapSet maps, ILoggerFactory loggers)
    {
        // A bare HostBuilder: no appsettings.json, environment or file-watcher sources (the
        // INI file is the configuration), which keeps start-up short (issue 5: <= 150 ms).
        var builder = new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .UseSystemd()
            .ConfigureLogging(l => { l.ClearProviders(); l.AddNLog(); })
            .ConfigureServices(s => s.Configure<HostOptions>(o => o.ShutdownTimeout = def.Options.ShutdownTimeout))
            .ConfigureWebHost(web => web
                .UseSockets(o =>
                {
                    o.Backlog = 4096; // spec: listen backlog >= 1024 (OS caps at somaxconn)
                    o.UnsafePreferInlineScheduling = InlineExecution.Enabled;
                })
                .UseKestrelCore() // no HTTPS/HTTP configuration loading: listeners are connection handlers
                .ConfigureKestrel(k =>
                {
                    k.AddServerHeader = false;
                    k.Limits.MaxConcurrentConnections = def.Options.MaxConnections;
                    var socketmap = new SocketmapConnectionHandler(maps.Tables, def.Options.SocketmapIdleTimeout,
                        loggers.CreateLogger<SocketmapConnectionHandler>());
                    foreach (var ep in def.SocketmapListeners)
                        Listen(k, ep, socketmap);
                    foreach (var map in def.Maps)
                    {
                        if (map.TcpListener is null) continue;
                        var tcp = new TcpTableConnectionHandler(maps.Tables[map.Name], map.AllowPut,
                            def.Options.TcpIdleTimeout, loggers.CreateLogger<TcpTableConnectionHandler>());
                        Listen(k, map.TcpListener, tcp);
                    }
                })
                .Configure(_ => { })); // no HTTP: every listener ends in a connection handler
        return builder.Build();
    }

    private static void Listen(KestrelServerOptions k, EndpointSpec ep, ConnectionHandler handler)
    {
        Action<ListenOptions> pipeline = l => l.Run(handler.OnConnectedAsync);
        if (ep.Kind == EndpointKind.Unix)
        {
            RemoveStaleSocket(ep.Path);
            k.ListenUnixSocket(ep.Path, pipeline);
            return;
        }
        int port = ep.PortNumber;
        if (port is < 0 or > 65535) throw new ConfigException($"bad port \"{ep.Port}\" in listener {ep}");
        if (IPAddress.TryParse(ep.Host, out var ip)) k.Listen(ip, port, pipeline);
        else if (ep.Host == "localhost") k.ListenLocalhost(port, pipeline);
        else
            foreach (var a in Dns.GetHostAddresses(ep.Host)) k.Listen(a, port, pipeline);
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
