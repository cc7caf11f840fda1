using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TcpTableServer.Protocols;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Transport;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// A real Kestrel server (generic host) over the server's socket transport (<see cref="LeanSocketTransport"/>) running one <see cref="ConnectionHandler"/> on a
/// loopback port chosen by the OS, or on a UNIX socket; plus raw socket helpers for tests.
/// </summary>
public sealed class KestrelTestHost : IAsyncDisposable
{
    private readonly IHost _host;

    private KestrelTestHost(IHost host, params EndPoint[] endPoints)
    {
        _host = host;
        EndPoints = endPoints;
    }

    /// <summary>Where the server listens: an <see cref="IPEndPoint"/> or a <see cref="UnixDomainSocketEndPoint"/>.</summary>
    public EndPoint EndPoint => EndPoints[0];

    /// <summary>Every listener, in the order given to <see cref="StartGatedAsync"/>.</summary>
    public IReadOnlyList<EndPoint> EndPoints { get; }

    /// <summary>
    /// Starts Kestrel with one loopback listener per handler (each on its own free port) behind
    /// <paramref name="gate"/>, as the server wires it (GatedListenerFactory): each listener
    /// with its own limit (null: the gate's only).
    /// </summary>
    public static async Task<KestrelTestHost> StartGatedAsync(
        ConnectionGate gate, params (ConnectionHandler Handler, int? MaxConnections)[] listeners)
    {
        var endPoints = listeners.Select(_ => new IPEndPoint(IPAddress.Loopback, FreePort.Next())).ToArray();
        var gates = new Dictionary<string, ListenerGate>();
        for (int i = 0; i < listeners.Length; i++)
            gates[endPoints[i].ToString()] = gate.AddListener($"test listener {i}", listeners[i].MaxConnections);
        var host = new HostBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .ConfigureWebHost(web => web
                .UseKestrel(options =>
                {
                    for (int i = 0; i < listeners.Length; i++)
                    {
                        var handler = listeners[i].Handler;
                        options.Listen(endPoints[i], l => l.Run(handler.OnConnectedAsync));
                    }
                })
                .ConfigureServices(s => GatedListenerFactory.Register(s, gate, ep => gates[ep.ToString()!]))
                .Configure(_ => { }))
            .Build();
        await host.StartAsync();
        return new KestrelTestHost(host, endPoints);
    }

    /// <summary>Starts Kestrel with <paramref name="handler"/> on 127.0.0.1 (free port) or on <paramref name="unixSocketPath"/>.</summary>
    public static async Task<KestrelTestHost> StartAsync(
        ConnectionHandler handler, string? unixSocketPath = null, TimeSpan? shutdownTimeout = null)
    {
        var host = new HostBuilder()
            .ConfigureLogging(logging => logging.ClearProviders())
            .ConfigureServices(services => services.Configure<HostOptions>(
                o => o.ShutdownTimeout = shutdownTimeout ?? TimeSpan.FromSeconds(10)))
            .ConfigureWebHost(web => web
                .UseKestrel(options =>
                {
                    if (unixSocketPath is null)
                        options.Listen(IPAddress.Loopback, 0, l => l.Run(handler.OnConnectedAsync));
                    else
                        options.ListenUnixSocket(unixSocketPath, l => l.Run(handler.OnConnectedAsync));
                })
                // the server's transport (ListenerSet), not Kestrel's
                .ConfigureServices(s => s.AddSingleton<IConnectionListenerFactory>(new LeanSocketTransport(
                    new LeanTransportOptions { MaxReadBufferSize = SocketmapConnectionHandler.MaxFrameLength + 1 })))
                .Configure(_ => { }))
            .Build();
        await host.StartAsync();
        EndPoint endPoint = unixSocketPath is not null
            ? new UnixDomainSocketEndPoint(unixSocketPath)
            : new IPEndPoint(IPAddress.Loopback, BoundPort(host));
        return new KestrelTestHost(host, endPoint);
    }

    /// <summary>A new client connection to the server (to listener <paramref name="listener"/>).</summary>
    public async Task<Socket> ConnectAsync(int listener = 0)
    {
        EndPoint endPoint = EndPoints[listener];
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return socket;
    }

    /// <summary>Graceful stop: Kestrel asks every connection to close, then waits for them.</summary>
    public Task StopAsync() => _host.StopAsync();

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _host.StopAsync(cts.Token);
        _host.Dispose();
    }

    private static int BoundPort(IHost host)
    {
        var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()
            ?? throw new InvalidOperationException("Kestrel reports no addresses");
        string address = addresses.Addresses.Single();
        return new Uri(address).Port;
    }
}

/// <summary>Raw-byte helpers for client sockets in protocol tests.</summary>
public static class SocketTestExtensions
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    public static async Task SendAllAsync(this Socket socket, byte[] bytes)
    {
        int sent = 0;
        while (sent < bytes.Length) sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes, or fewer when the server closes first.</summary>
    public static async Task<byte[]> ReceiveAtMostAsync(this Socket socket, int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var buffer = new byte[count];
        int got = 0;
        while (got < count)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, cts.Token);
            if (n == 0) break;
            got += n;
        }
        return buffer[..got];
    }

    /// <summary>Reads until the server closes the connection; fails the test on timeout.</summary>
    public static async Task<byte[]> ReceiveToEndAsync(this Socket socket, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }
            if (n == 0) break;
            all.Write(buffer, 0, n);
        }
        return all.ToArray();
    }
}
