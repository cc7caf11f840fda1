using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Protocols;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Protocols.Transport;

namespace TcpTableServer.Host;

/// <summary>
/// What one listener is: its socket address, the protocol and map it serves, and everything
/// fixed when it opens (allow list, connection limit, idle timeout). Two plans with the same
/// <see cref="Key"/> are the same listener: a reload keeps it, its socket and its connections.
/// </summary>
public sealed record ListenerPlan(string Name, EndpointSpec Endpoint, string? TcpMap, TimeSpan? IdleTimeout)
{
    public string Key => $"{Name}|map={TcpMap}|allow={Endpoint.Allow}|max={Endpoint.MaxConnections}|idle={IdleTimeout}"
                         + $"|mode={Endpoint.Mode}|owner={Endpoint.Owner}|group={Endpoint.Group}";

    /// <summary>The same listener: the same <see cref="Key"/>.</summary>
    public bool Equals(ListenerPlan? other) => other is not null && Key == other.Key;

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);

    /// <summary>Every listener of a configuration: the socketmap listeners, then each map's tcp listener.</summary>
    public static List<ListenerPlan> Of(ServerDefinition def)
    {
        var plans = def.SocketmapListeners
            .Select(ep => new ListenerPlan($"socketmap {ep}", ep, null, def.Options.SocketmapIdleTimeout)).ToList();
        plans.AddRange(def.Maps.Where(m => m.TcpListener is not null)
            .Select(m => new ListenerPlan($"tcp {m.TcpListener}", m.TcpListener!, m.Name, def.Options.TcpIdleTimeout)));
        return plans;
    }
}

/// <summary>
/// The open listeners, each its own accept loops and connections (<see cref="ConnectionDispatcher"/>)
/// over the shared gated socket transport (<see cref="LeanSocketTransport"/>), so
/// that a reload can open and close listeners one by one while the others keep their sockets
/// and connections. Handlers answer from <see cref="LiveMaps"/>, never from tables of their
/// own, so an unchanged listener serves the new maps from its next request batch on. Stopping
/// a listener stops its accepts and asks each connection to close after the answers in flight
/// (S24), aborting what is left after the stop timeout.
/// </summary>
public sealed class ListenerSet(IServiceProvider services, ConnectionGate gate, LiveMaps maps, ILoggerFactory loggers,
    SystemdSockets? passed = null, Metrics.ServerMetrics? metrics = null)
{
    private readonly Dictionary<string, Running> _running = new(StringComparer.Ordinal);
    private readonly ILogger _log = loggers.CreateLogger("TcpTableServer");
    private LeanSocketTransport? _transport;

    /// <summary>An open listener; <paramref name="Activated"/>: it serves sockets systemd passed.</summary>
    private sealed record Running(ListenerPlan Plan, ConnectionDispatcher Server, ListenerGate Gate, bool Activated);

    /// <summary>The listeners open now.</summary>
    public IEnumerable<ListenerPlan> Open => _running.Values.Select(r => r.Plan);

    /// <summary>Whether the listener <paramref name="plan"/> describes is open.</summary>
    public bool IsOpen(ListenerPlan plan) => _running.ContainsKey(plan.Key);

    /// <summary>Opens the listeners of <paramref name="plans"/> that are not open; throws (having closed what it opened) if one cannot be.</summary>
    public async Task<List<ListenerPlan>> OpenAsync(IEnumerable<ListenerPlan> plans, CancellationToken ct)
    {
        var opened = new List<ListenerPlan>();
        try
        {
            foreach (var plan in plans)
            {
                if (IsOpen(plan)) continue;
                _running[plan.Key] = await StartAsync(plan, ct);
                opened.Add(plan);
            }
        }
        catch
        {
            await CloseAsync(opened, TimeSpan.Zero);
            throw;
        }
        return opened;
    }

    /// <summary>
    /// Why a reload may not close <paramref name="closing"/>: a listener on a socket systemd passed
    /// (its options changed, or the new configuration no longer names it) could not get the
    /// socket back, and the socket would stay open with nobody accepting; null: none of them is.
    /// </summary>
    public string? PassedClosing(IEnumerable<ListenerPlan> closing)
    {
        var held = closing.Where(p => _running.TryGetValue(p.Key, out var r) && r.Activated).Select(p => p.Name).ToList();
        return held.Count == 0 ? null
            : $"listener(s) {string.Join(", ", held)} serve sockets passed by systemd and cannot be changed or removed by a reload (restart the service)";
    }

    /// <summary>Closes these listeners: no more accepts; connections close after the answer in flight.</summary>
    public async Task CloseAsync(IEnumerable<ListenerPlan> plans, TimeSpan timeout)
    {
        var stopping = new List<Task>();
        foreach (var plan in plans.ToList())
        {
            if (!_running.Remove(plan.Key, out var running)) continue;
            stopping.Add(StopAsync(running, timeout));
        }
        await Task.WhenAll(stopping);
    }

    private async Task StopAsync(Running running, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await running.Server.StopAsync(cts.Token);
        }
        finally
        {
            gate.RemoveListener(running.Gate);
            // the socket file is ours to remove unless systemd made it (it removes it itself)
            if (running.Plan.Endpoint.Kind == EndpointKind.Unix && !running.Activated) SocketFile.TryDelete(running.Plan.Endpoint.Path);
        }
    }

    /// <summary>Closes every listener (shutdown).</summary>
    public Task CloseAllAsync(TimeSpan timeout) => CloseAsync(Open, timeout);

    private async Task<Running> StartAsync(ListenerPlan plan, CancellationToken ct)
    {
        var ep = plan.Endpoint;
        // Clients outside the listener's allow list are closed at accept, before they count
        // against a connection limit and before a byte is read (loopback always passes).
        var access = new AccessGate(ep.Allow ?? AllowList.LoopbackOnly, ep.ToString(), loggers.CreateLogger("TcpTableServer.Access"));
        var listener = gate.AddListener(plan.Name, ep.MaxConnections, access);
        ConnectionDelegate handler = plan.TcpMap is { } map ? TcpHandler(map, plan.IdleTimeout)
            : new SocketmapConnectionHandler(maps, plan.IdleTimeout, loggers.CreateLogger<SocketmapConnectionHandler>()) { Metrics = metrics }.OnConnectedAsync;
        _transport ??= CreateTransport(services);
        var server = new ConnectionDispatcher(new GatedListenerFactory(_transport, gate, _ => listener), handler, _log);
        var activated = passed?.Take(ep) ?? [];
        try
        {
            if (ep.Kind == EndpointKind.Systemd)
                CheckPassed(ep, activated);
            if (activated.Count > 0)
            {
                // socket activation: systemd bound the socket (and owns its file's permissions)
                foreach (var socket in activated)
                {
                    await server.BindAsync(new FileHandleEndPoint((ulong)socket.Fd, FileHandleType.Auto), ct);
                    _log.LogInformation("{Listener}: socket {Socket} passed by systemd", plan.Name, socket);
                }
            }
            else
            {
                foreach (var address in EndPointsOf(ep, "listener"))
                {
                    if (address is UnixDomainSocketEndPoint) SocketFile.RemoveStale(ep.Path);
                    try
                    {
                        await server.BindAsync(address, ct);
                    }
                    catch (IOException e) when (ep.Host == "localhost" && address is IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 }
                                                && e.InnerException is SocketException { SocketErrorCode: not SocketError.AddressAlreadyInUse })
                    {
                        // a host without IPv6 loopback still serves "localhost" on 127.0.0.1, as Kestrel did
                        _log.LogWarning("{Listener}: not listening on [::1]: {Reason}", plan.Name, e.InnerException.Message);
                    }
                }
            }
        }
        catch
        {
            await server.StopAsync(new CancellationToken(canceled: true));
            gate.RemoveListener(listener);
            throw;
        }
        if (ep.Kind == EndpointKind.Unix && activated.Count == 0) SocketFile.Apply(ep);
        return new Running(plan, server, listener, activated.Count > 0);
    }

    /// <summary>
    /// A <c>systemd:NAME</c> listener has only what systemd passed under NAME: none is an error
    /// naming the INI line (at start: exit 78; on reload: the old configuration stays). A passed
    /// TCP socket reachable from other machines needs an allow list, as an address listener does.
    /// </summary>
    private void CheckPassed(EndpointSpec ep, List<SystemdSockets.Passed> activated)
    {
        if (activated.Count == 0)
            throw new ConfigException($"listener {ep}: systemd passed no socket named \"{ep.Path}\" (FileDescriptorName= in the .socket unit; passed: {passed?.Names ?? "none"})",
                ep.File, ep.Line);
        if ((ep.Allow ?? AllowList.LoopbackOnly).IsLoopbackOnly && activated.FirstOrDefault(s => !SystemdSockets.IsLoopbackOnly(s)) is { } open)
            throw new ConfigException($"listener {ep}: the passed socket {open} is reachable from other machines but the listener has no allow list: set [server] allow = NETWORKS or allow= on the listener, or listen on a loopback address",
                ep.File, ep.Line);
    }

    /// <summary>
    /// The socket addresses of <paramref name="ep"/> (the table listeners' and, through
    /// <see cref="Bind"/>, the metrics listener's): a UNIX socket, both loopbacks for
    /// "localhost", an address, or every address of a host name.
    /// </summary>
    private static IEnumerable<EndPoint> EndPointsOf(EndpointSpec ep, string what)
    {
        if (ep.Kind == EndpointKind.Unix) return [new UnixDomainSocketEndPoint(ep.Path)];
        if (ep.Kind == EndpointKind.Systemd) throw new ConfigException($"{what} {ep}: only systemd can pass this socket", ep.File, ep.Line);
        int port = ep.PortNumber;
        if (port is < 0 or > 65535) throw new ConfigException($"bad port \"{ep.Port}\" in {what} {ep}");
        if (ep.Host == "localhost") return LocalhostEndPoints(port);
        IPAddress[] addresses = IPAddress.TryParse(ep.Host, out var ip) ? [ip] : Dns.GetHostAddresses(ep.Host);
        return addresses.Select(a => new IPEndPoint(a, port));
    }

    /// <summary>"localhost": 127.0.0.1, and ::1 where the host has IPv6 (as Kestrel's ListenLocalhost).</summary>
    private static IEnumerable<EndPoint> LocalhostEndPoints(int port)
    {
        yield return new IPEndPoint(IPAddress.Loopback, port);
        if (Socket.OSSupportsIPv6) yield return new IPEndPoint(IPAddress.IPv6Loopback, port);
    }

    /// <summary>The listeners' socket transport, with the host's settings (backlog, read buffer limit, inline continuations).</summary>
    private static LeanSocketTransport CreateTransport(IServiceProvider services) =>
        new(services.GetService<LeanTransportOptions>() ?? new LeanTransportOptions());

    /// <summary>
    /// A map's tcp listener: with allow_put = yes, a client inside put_allow (loopback and
    /// UNIX sockets always) gets a handler that runs puts, every other client one that answers
    /// them as not allowed (spec 1.8), decided per connection before a byte is read, with the
    /// map's settings of the configuration active at accept.
    /// </summary>
    private ConnectionDelegate TcpHandler(string map, TimeSpan? idle)
    {
        var readOnly = new TcpTableConnectionHandler(maps, map, false, idle, loggers.CreateLogger<TcpTableConnectionHandler>()) { Metrics = metrics };
        var writable = new TcpTableConnectionHandler(maps, map, true, idle, loggers.CreateLogger<TcpTableConnectionHandler>()) { Metrics = metrics };
        return c =>
        {
            var def = maps.Current.Definition.Maps.FirstOrDefault(m => m.Name == map);
            bool put = def is { AllowPut: true } && (c.RemoteEndPoint is not IPEndPoint ip || def.PutAllow.Allows(ip.Address));
            return (put ? writable : readOnly).OnConnectedAsync(c);
        };
    }

    /// <summary>
    /// Binds <paramref name="ep"/> on <paramref name="options"/> as every listener is bound: a UNIX
    /// socket (a stale file from a crashed run replaced, a live one left to fail the bind), or
    /// TCP on "localhost" (both loopbacks), an address, or every address of a host name.
    /// </summary>
    internal static void Bind(KestrelServerOptions options, EndpointSpec ep, Action<ListenOptions> pipeline, string what)
    {
        var addresses = EndPointsOf(ep, what).ToList(); // checks the port, resolves a host name
        if (ep.Kind == EndpointKind.Unix) SocketFile.RemoveStale(ep.Path);
        // Kestrel's own "localhost" binding tolerates a host without IPv6 loopback
        if (ep.Kind != EndpointKind.Unix && ep.Host == "localhost") options.ListenLocalhost(ep.PortNumber, pipeline);
        else foreach (var address in addresses) options.Listen(address, pipeline);
    }
}
