using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Protocols;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// Connection limits under a real Kestrel listener with the server's gated transport
/// (spec 2.6 POLICY: close idle connections only under connection pressure, longest idle
/// first): at a limit the connection that has waited for input the longest is closed to
/// admit the new one, a connection in the middle of a request never is, and only when none
/// waits for input is the new connection closed at once. Today's Kestrel limit
/// (MaxConcurrentConnections) closes every new connection at the limit and keeps idle ones.
/// </summary>
public class ConnectionLimitTests
{
    private TableDouble _aliases = null!;
    private TableDouble _slow = null!;

    [SetUp]
    public void Tables()
    {
        _aliases = new TableDouble("memcache:aliases").With("user@example.com", "alice@example.org");
        _slow = new TableDouble("memcache:slow") { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
    }

    [TearDown]
    public async Task DisposeTables()
    {
        _slow.Gate!.TrySetResult();
        await _aliases.DisposeAsync();
        await _slow.DisposeAsync();
    }

    private SocketmapConnectionHandler Handler() =>
        new(new Dictionary<string, ITable> { ["aliases"] = _aliases, ["slow"] = _slow },
            TimeSpan.FromMinutes(1), NullLogger<SocketmapConnectionHandler>.Instance);

    private static ConnectionGate Gate(int max) => new(max, NullLogger.Instance);

    private const string Lookup = "24:aliases user@example.com,";
    private const string Found = "20:OK alice@example.org,";

    private static async Task<string> Exchange(Socket socket, string request, int replyLength)
    {
        await socket.SendAllAsync(Bytes.Of(request));
        return Bytes.Text(await socket.ReceiveAtMostAsync(replyLength));
    }

    /// <summary>A client that made a lookup and now waits, idle since about now.</summary>
    private static async Task<Socket> IdleClient(KestrelTestHost host, int listener = 0)
    {
        var socket = await host.ConnectAsync(listener);
        Assert.That(await Exchange(socket, Lookup, Found.Length), Is.EqualTo(Found));
        await Task.Delay(30); // distinct idle start times: the order of the clients is the idle order
        return socket;
    }

    /// <summary>True when the server closed the connection (EOF or reset) with nothing sent.</summary>
    private static async Task<bool> ClosedByServer(Socket socket) =>
        (await socket.ReceiveToEndAsync(TimeSpan.FromSeconds(5))).Length == 0;

    /// <summary>Connects and sends a lookup: true when the server closes (or resets) without a reply.</summary>
    private static async Task<bool> Refused(KestrelTestHost host)
    {
        try
        {
            using var socket = await host.ConnectAsync();
            await socket.SendAllAsync(Bytes.Of(Lookup));
            return await ClosedByServer(socket);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
            return true;
        }
    }

    private static async Task<bool> StillOpen(Socket socket)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        try
        {
            return await socket.ReceiveAsync(new byte[1], SocketFlags.None, cts.Token) > 0;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    [Test]
    public async Task Spec2_6_AtTheLimit_TheLongestIdleConnectionIsClosed_AndTheNewOneServed()
    {
        await using var host = await KestrelTestHost.StartGatedAsync(Gate(3), (Handler(), null));
        using var oldest = await IdleClient(host);
        using var second = await IdleClient(host);
        using var third = await IdleClient(host);

        using var fresh = await host.ConnectAsync();
        Assert.That(await Exchange(fresh, Lookup, Found.Length), Is.EqualTo(Found), "the new connection is served");
        Assert.That(await ClosedByServer(oldest), Is.True, "the longest idle connection was closed");
        Assert.That(await Exchange(second, Lookup, Found.Length), Is.EqualTo(Found), "younger idle connections stay");
        Assert.That(await Exchange(third, Lookup, Found.Length), Is.EqualTo(Found));
    }

    [Test]
    public async Task Spec2_6_NoConnectionWaitsForInput_TheNewOneIsClosedAtOnce_AndTheBusyOnesAnswered()
    {
        await using var host = await KestrelTestHost.StartGatedAsync(Gate(3), (Handler(), null));
        using var idle = await IdleClient(host);
        using var busy1 = await host.ConnectAsync();
        using var busy2 = await host.ConnectAsync();
        await busy1.SendAllAsync(Bytes.Of("6:slow a,"));
        await busy2.SendAllAsync(Bytes.Of("6:slow b,"));
        while (_slow.LookedUp.Count < 2) await Task.Delay(5);

        // Limit reached: the idle connection makes room, never a busy one.
        using var fourth = await host.ConnectAsync();
        Assert.That(await Exchange(fourth, "6:slow c,", 0), Is.Empty);
        while (_slow.LookedUp.Count < 3) await Task.Delay(5);
        Assert.That(await ClosedByServer(idle), Is.True, "the idle connection was closed for the fourth");

        // Now all three wait for a table: a new connection is closed at once, unanswered.
        Assert.That(await Refused(host), Is.True, "refused when no connection is idle");
        Assert.That(_aliases.LookedUp, Has.Count.EqualTo(1), "the refused connection's request was never read");

        _slow.Gate!.SetResult();
        foreach (var busy in new[] { busy1, busy2, fourth })
            Assert.That(Bytes.Text(await busy.ReceiveAtMostAsync(12)), Is.EqualTo("9:NOTFOUND ,"), "busy connections are answered");
    }

    [Test]
    public async Task Spec2_6_ListenerLimit_EvictsWithinThatListenerOnly()
    {
        await using var host = await KestrelTestHost.StartGatedAsync(Gate(100), (Handler(), 2), (Handler(), null));
        using var otherListener = await IdleClient(host, listener: 1); // idle the longest, but elsewhere
        using var a1 = await IdleClient(host);
        using var a2 = await IdleClient(host);

        using var a3 = await host.ConnectAsync();
        Assert.That(await Exchange(a3, Lookup, Found.Length), Is.EqualTo(Found));
        Assert.That(await ClosedByServer(a1), Is.True, "the listener's own longest idle connection was closed");
        Assert.That(await StillOpen(otherListener), Is.True, "the other listener's connection is kept");
        Assert.That(await Exchange(otherListener, Lookup, Found.Length), Is.EqualTo(Found));
        Assert.That(await Exchange(a2, Lookup, Found.Length), Is.EqualTo(Found));
    }

    /// <summary>
    /// At the limit, a client outside the listener's allow list is closed at accept: it never
    /// counts, so it never makes room by closing an idle allowed connection (a Sendmail whose
    /// idle connection were closed would see a temporary failure). Loopback is always allowed,
    /// so the clients here come through a transport that gives them any remote address.
    /// </summary>
    [Test]
    public async Task Spec2_6_AClientOutsideTheAllowList_NeverClosesAnIdleAllowedConnection()
    {
        var gate = Gate(1);
        var access = new AccessGate(AllowList.Parse("allow", "10.0.0.0/8", "t.ini", 1), "test", NullLogger.Instance);
        var allowed = new FakeTransport.Connection("10.2.3.4");
        var outsider = new FakeTransport.Connection("198.51.100.9");
        var listener = await new GatedListenerFactory(new FakeTransport(allowed, outsider), gate, _ => gate.AddListener("test", null, access))
            .BindAsync(new IPEndPoint(IPAddress.Any, 9000));

        await using var admitted = await listener.AcceptAsync();
        Assert.That(admitted, Is.Not.Null);
        using var idle = new ReadWatch(admitted!, idleTimeout: null);
        idle.Arm(); // waits for input: the one connection an eviction would pick

        Assert.That(await listener.AcceptAsync(), Is.Null, "the outsider is not handed on");
        Assert.That(outsider.Aborted, Is.True, "the outsider is closed");
        Assert.That(idle.Evicted, Is.False, "the idle allowed connection stays open");
        Assert.That(allowed.Aborted, Is.False);
        Assert.That(gate.Count, Is.EqualTo(1), "the outsider never counted");
    }
}
