using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using TcpTableServer.Protocols.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NLog.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Metrics;
using TcpTableServer.Protocols;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting.Systemd;

namespace TcpTableServer.Host;

/// <summary>
/// Runs the server: configuration and maps are opened first (a bad configuration exits 78
/// naming file and line), then each listener is an accept loop of ours with our connection
/// handlers (<see cref="ListenerSet"/>), answering from the swappable <see cref="LiveMaps"/>.
/// SIGHUP reloads (<see cref="Reloader"/>). SIGTERM / Ctrl+C: stop accepting, answer
/// in-flight requests, exit 0.
/// </summary>
public static class ServerCommand
{
    public static async Task<int> RunAsync(string ini, CancellationToken ct)
    {
        var loggers = Logging.Create(ini);
        var log = loggers.CreateLogger("TcpTableServer");
        var registry = new TableRegistry();   // one instance per table across reloads
        ServerDefinition def;
        MapSet maps;
        try
        {
            def = ServerConfigLoader.Load(ini, log);
            maps = MapSet.Open(def, loggers, registry: registry);
        }
        catch (ConfigException e)
        {
            log.LogCritical("fatal: {Message}", e.Message);
            NLog.LogManager.Shutdown();
            return ExitCodes.Config;
        }

        SystemdSockets passed;
        try
        {
            passed = SystemdSockets.FromEnvironment();
        }
        catch (ConfigException e)
        {
            log.LogCritical("fatal: {Message}", e.Message);
            await maps.DisposeAsync();
            NLog.LogManager.Shutdown();
            return ExitCodes.Config;
        }
        var live = new LiveMaps(maps);
        var gate = CreateGate(def, log, loggers);
        // [server] metrics: instruments and their HTTP listener exist only when asked for.
        using var metrics = def.Options.Metrics is null ? null : new ServerMetrics(live, gate);
        metrics?.ConfigLoaded(DateTimeOffset.UtcNow);
        await using var metricsServer = def.Options.Metrics is { } metricsAt ? MetricsServer.Build(metricsAt, live, loggers) : null;
        using var host = Build(def, live, gate, passed, loggers, metrics);
        var listeners = host.Services.GetRequiredService<ListenerService>().Listeners;
        try
        {
            await host.StartAsync(ct);
            if (metricsServer is not null) await metricsServer.StartAsync(ct);
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidOperationException or ConfigException)
        {
            log.LogCritical("fatal: cannot open a listener: {Message}", e.Message);
            await host.StopAsync(CancellationToken.None);
            await live.Current.DisposeAsync();
            NLog.LogManager.Shutdown();
            return e is ConfigException ? ExitCodes.Config : ExitCodes.Unavailable;
        }
        // Listeners are bound and tables open: now the root privileges can go.
        if (Privileges.Drop(def.Options.User, log) is { } failed)
        {
            log.LogCritical("fatal: {Message}", failed);
            await host.StopAsync(CancellationToken.None);
            await live.Current.DisposeAsync();
            NLog.LogManager.Shutdown();
            return ExitCodes.Config;
        }
        foreach (var ep in def.SocketmapListeners)
            log.LogInformation("socketmap listening on {Endpoint} (maps: {Maps}; clients: {Allow})", ep, string.Join(", ", maps.Tables.Keys), ep.Allow);
        foreach (var m in def.Maps.Where(m => m.TcpListener is not null))
            log.LogInformation("tcp listening on {Endpoint} (map {Map}; clients: {Allow}{Put})", m.TcpListener, m.Name, m.TcpListener!.Allow,
                m.AllowPut ? $"; put allowed from {m.PutAllow}" : "");
        if (def.Options.Metrics is { } m2)
            log.LogInformation("metrics listening on {Endpoint} (GET /metrics, GET /health; clients: {Allow}; changes take effect at the next restart)", m2, m2.Allow);

        // sd_notify: the hosting library's notifier tells systemd READY=1 and STOPPING=1 when it
        // recognises a systemd service (its parent is systemd); a NOTIFY_SOCKET given otherwise
        // (a supervisor, a test) is told the same here, and reloads are told either way.
        var notifier = host.Services.GetService<ISystemdNotifier>() ?? new SystemdNotifier();
        bool notifyLifetime = notifier.IsEnabled && !SystemdHelpers.IsSystemdService();
        var reloader = new Reloader(ini, live, listeners, registry, loggers, notifier);
        reloader.Activated(maps);
        if (metrics is not null)
        {
            metrics.Reloads = () => (Volatile.Read(ref reloader.Succeeded), Volatile.Read(ref reloader.Failed));
            reloader.Reloaded += ok => { if (ok) metrics.ConfigLoaded(DateTimeOffset.UtcNow); };
        }
        // SIGHUP reloads instead of ending the process (the runtime's default).
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
        {
            c.Cancel = true;
            reloader.Request();
        });
        log.LogInformation("ready");
        if (notifyLifetime)
        {
            notifier.Notify(ServiceState.Ready);
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping
                .Register(() => notifier.Notify(ServiceState.Stopping));
        }
        await host.WaitForShutdownAsync(ct);
        if (metricsServer is not null) await metricsServer.StopAsync();
        // the configuration serving at the end (a reload may have replaced the first one)
        var last = live.Current;
        await last.DisposeAsync();
        await Task.WhenAny(last.Released, Task.Delay(last.Definition.Options.ShutdownTimeout));
        log.LogInformation("stopped");
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

    private static IHost Build(ServerDefinition def, LiveMaps live, ConnectionGate gate, SystemdSockets passed, ILoggerFactory loggers,
        ServerMetrics? metrics)
    {
        // A bare HostBuilder: no appsettings.json, environment or file-watcher sources (the
        // INI file is the configuration), which keeps start-up short.
        var builder = new HostBuilder()
            .UseContentRoot(AppContext.BaseDirectory)
            .UseSystemd()
            // no logging scopes: Kestrel opens one per connection (an AsyncLocal and about 170 bytes
            // per connection) and no layout of ours prints them
            .ConfigureLogging(l => { l.ClearProviders(); l.AddNLog(new NLogProviderOptions { IncludeScopes = false }); })
            .ConfigureServices(s =>
            {
                s.Configure<HostOptions>(o => o.ShutdownTimeout = def.Options.ShutdownTimeout);
                // The table listeners' transport (LeanSocketTransport, which rents its buffers from
                // a ReturningMemoryPool per listener so memory goes back after a burst).
                s.AddSingleton(new LeanTransportOptions
                {
                    Backlog = 4096, // spec: listen backlog >= 1024 (OS caps at somaxconn)
                    InlineContinuations = InlineExecution.Enabled,
                    // The most a connection makes the server buffer: one unfinished request of the
                    // largest size a codec accepts (MaxFrameLength, which counts one 4 KiB socket
                    // read of length digits); reading pauses only once more than that is buffered.
                    MaxReadBufferSize = SocketmapConnectionHandler.MaxFrameLength + 1,
                });
                s.AddSingleton(sp => new ListenerService(
                    new ListenerSet(sp, gate, live, loggers, passed, metrics), ListenerPlan.Of(def), def.Options.ShutdownTimeout, passed));
                s.AddHostedService(sp => sp.GetRequiredService<ListenerService>());
            });
        return builder.Build();
    }
}

/// <summary>
/// Opens the configuration's listeners when the host starts (so systemd's READY=1 follows the
/// binds) and closes them all when it stops, each connection after its answers in flight.
/// </summary>
public sealed class ListenerService(ListenerSet listeners, IReadOnlyList<ListenerPlan> initial, TimeSpan stopTimeout,
    SystemdSockets passed) : IHostedService
{
    public ListenerSet Listeners => listeners;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await listeners.OpenAsync(initial, cancellationToken);
        // A socket systemd passed that no listener names would accept connections nobody answers.
        if (passed.Untaken.ToList() is { Count: > 0 } stray)
        {
            await listeners.CloseAllAsync(TimeSpan.Zero);
            throw new ConfigException($"systemd passed {string.Join(", ", stray)}, which no listener of the configuration names (socketmap = ... or tcp = ...)");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => listeners.CloseAllAsync(stopTimeout);
}
