using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Transport;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// The listeners' accept loops and dispatch (<see cref="ConnectionDispatcher"/>, which
/// replaced one Kestrel server per listener) over real loopback sockets: a stop answers the
/// request in flight, then closes (S24); closes idle connections at once; aborts what is left
/// when the stop timeout ends; a handler that throws closes only its own connection.
/// </summary>
public sealed class ConnectionDispatcherTests
{
    private TableDouble _aliases = null!;

    [SetUp]
    public void Table() => _aliases = new TableDouble("memcache:aliases").With("user@example.com", "alice@example.org");

    [TearDown]
    public async Task DisposeTable() => await _aliases.DisposeAsync();

    private async Task<(ConnectionDispatcher Server, EndPoint EndPoint)> Serve(ConnectionDelegate? handler = null)
    {
        handler ??= new SocketmapConnectionHandler(new Dictionary<string, ITable> { ["aliases"] = _aliases },
            TimeSpan.FromMinutes(1), NullLogger<SocketmapConnectionHandler>.Instance).OnConnectedAsync;
        var server = new ConnectionDispatcher(new LeanSocketTransport(new LeanTransportOptions()), handler, NullLogger.Instance);
        await server.BindAsync(new IPEndPoint(IPAddress.Loopback, 0), CancellationToken.None);
        return (server, server.EndPoints.Single());
    }

    private static async Task<Socket> Connect(EndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return socket;
    }

    [Test]
    public async Task S24_Stop_AnswersTheRequestInFlightThenCloses()
    {
        _aliases.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (server, endPoint) = await Serve();
        using var socket = await Connect(endPoint);
        await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,"));
        await _aliases.Entered.Task.WaitAsync(TimeSpan.FromSeconds(5));

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Task stopping = server.StopAsync(timeout.Token);
        await Task.Delay(100);
        Assert.That(stopping.IsCompleted, Is.False, "stop waits for the request in flight");
        _aliases.Gate.SetResult();
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("20:OK alice@example.org,"));
        await stopping.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(server.Count, Is.Zero);
    }

    [Test]
    public async Task Stop_ClosesIdleConnectionsAtOnceAndRefusesNewOnes()
    {
        var (server, endPoint) = await Serve();
        using var idle = await Connect(endPoint);
        await idle.SendAllAsync(Bytes.Of("24:aliases user@example.com,"));
        Assert.That(Bytes.Text(await idle.ReceiveAtMostAsync(24)), Is.EqualTo("20:OK alice@example.org,"));
        var clock = Stopwatch.StartNew();
        await server.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "an idle connection does not hold the stop");
        Assert.That(await idle.ReceiveToEndAsync(), Is.Empty, "closed without a reply");
        Assert.ThrowsAsync<SocketException>(async () => await Connect(endPoint), "no more accepts");
    }

    [Test]
    public async Task Stop_AbortsWhatIsStillOpenWhenTheTimeoutEnds()
    {
        _aliases.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously); // never released
        var (server, endPoint) = await Serve();
        using var socket = await Connect(endPoint);
        await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,"));
        await _aliases.Entered.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        var stopping = server.StopAsync(new CancellationTokenSource(TimeSpan.FromMilliseconds(300)).Token);
        Assert.That(await socket.ReceiveToEndAsync(), Is.Empty, "the stuck connection is closed at the timeout");
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(250)));
        _aliases.Gate.SetResult(); // the handler's write then fails quietly on the closed socket
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(server.Count, Is.Zero);
    }

    [Test]
    public async Task HandlerThatThrows_ClosesItsConnectionAndTheListenerServesOn()
    {
        int calls = 0;
        var good = new SocketmapConnectionHandler(new Dictionary<string, ITable> { ["aliases"] = _aliases },
            TimeSpan.FromMinutes(1), NullLogger<SocketmapConnectionHandler>.Instance);
        var (server, endPoint) = await Serve(c => Interlocked.Increment(ref calls) == 1
            ? throw new InvalidOperationException("handler bug") : good.OnConnectedAsync(c));
        using (var first = await Connect(endPoint))
            Assert.That(await first.ReceiveToEndAsync(), Is.Empty, "the failing handler's connection is closed");
        using var second = await Connect(endPoint);
        await second.SendAllAsync(Bytes.Of("24:aliases user@example.com,"));
        Assert.That(Bytes.Text(await second.ReceiveAtMostAsync(24)), Is.EqualTo("20:OK alice@example.org,"));
        await server.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
    }

    [Test]
    public async Task Bind_AddressInUse_IsAnIOExceptionNamingTheAddress()
    {
        var (server, endPoint) = await Serve();
        var second = new ConnectionDispatcher(new LeanSocketTransport(new LeanTransportOptions()), _ => Task.CompletedTask, NullLogger.Instance);
        var e = Assert.ThrowsAsync<IOException>(() => second.BindAsync(endPoint, CancellationToken.None));
        Assert.That(e!.Message, Does.Contain($"127.0.0.1:{((IPEndPoint)endPoint).Port}"));
        await server.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
    }
}
