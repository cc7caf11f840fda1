using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using TcpTableServer.Config;
using TcpTableServer.Protocols;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// Access control: a client outside the listener's allow list is closed at accept, before its
/// handler runs (so before a byte is read), loopback always passes, and refusals are logged once per
/// address per minute with a count.
/// </summary>
public class AccessGateTests
{
    private static (AccessGate Gate, ListLogger Log, FakeTimeProvider Time) Gate(string allow)
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        return (new AccessGate(AllowList.Parse("allow", allow, "t.ini", 1), "socketmap inet:0.0.0.0:9000", log, time), log, time);
    }

    /// <summary>
    /// One client at <paramref name="remote"/> through the server's gated accept with
    /// <paramref name="gate"/> as the listener's allow list: HandlerRan when the accept hands
    /// the connection on to Kestrel (which runs the handler), Aborted when it was closed instead.
    /// </summary>
    private static async Task<(bool HandlerRan, bool Aborted)> Connect(AccessGate gate, EndPoint remote)
    {
        var connection = new FakeTransport.Connection(remote);
        var limits = new ConnectionGate(100, NullLogger.Instance);
        var listener = await new GatedListenerFactory(new FakeTransport(connection), limits, _ => limits.AddListener("t", null, gate))
            .BindAsync(new IPEndPoint(IPAddress.Any, 9000));
        await using var accepted = await listener.AcceptAsync();
        return (accepted is not null, connection.Aborted);
    }

    [Test]
    public async Task A_client_inside_the_list_reaches_the_handler()
    {
        var (gate, log, _) = Gate("10.0.0.0/8");
        var r = await Connect(gate, new IPEndPoint(IPAddress.Parse("10.2.3.4"), 40000));
        Assert.That(r.HandlerRan, Is.True);
        Assert.That(r.Aborted, Is.False);
        Assert.That(log.Entries, Is.Empty);
    }

    [Test]
    public async Task A_client_outside_the_list_is_closed_before_the_handler_runs()
    {
        var (gate, log, _) = Gate("10.0.0.0/8");
        var r = await Connect(gate, new IPEndPoint(IPAddress.Parse("198.51.100.9"), 40000));
        Assert.That(r.HandlerRan, Is.False);
        Assert.That(r.Aborted, Is.True);
        Assert.That(log.Warnings, Has.Count.EqualTo(1));
        Assert.That(log.Warnings[0], Does.Contain("198.51.100.9").And.Contain("not in the allow list"));
    }

    [Test]
    public async Task Loopback_and_unix_socket_clients_always_pass()
    {
        var (gate, _, _) = Gate("10.0.0.0/8");
        Assert.That((await Connect(gate, new IPEndPoint(IPAddress.Loopback, 1))).HandlerRan, Is.True);
        Assert.That((await Connect(gate, new IPEndPoint(IPAddress.IPv6Loopback, 1))).HandlerRan, Is.True);
        Assert.That((await Connect(gate, new System.Net.Sockets.UnixDomainSocketEndPoint("/tmp/x"))).HandlerRan, Is.True);
    }

    [Test]
    public async Task Refusals_are_logged_once_per_address_per_minute_with_a_count()
    {
        var (gate, log, time) = Gate("10.0.0.0/8");
        var a = new IPEndPoint(IPAddress.Parse("198.51.100.9"), 1);
        var b = new IPEndPoint(IPAddress.Parse("198.51.100.10"), 1);
        for (int i = 0; i < 500; i++) await Connect(gate, a);
        await Connect(gate, b);
        Assert.That(log.Warnings, Has.Count.EqualTo(2), "first refusal of each address");

        time.Advance(TimeSpan.FromSeconds(61));
        await Connect(gate, a);
        Assert.That(log.Warnings, Has.Count.EqualTo(3));
        Assert.That(log.Warnings[2], Does.Contain("500 refused since the last report"));
    }
}
