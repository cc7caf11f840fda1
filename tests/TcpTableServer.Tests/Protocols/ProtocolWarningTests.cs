using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// Log storms: a burst of malformed connections (S18 framing errors, S10 over-long lines)
/// logs one warning and, when the window ends, one summary line with the count, per
/// listener and cause; before, every malformed connection logged its own warning.
/// </summary>
public class ProtocolWarningTests
{
    private const int Burst = 20;

    private static async Task SendAndWaitForClose(KestrelTestHost host, string octets)
    {
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of(octets));
        Assert.That(await socket.ReceiveToEndAsync(), Is.Empty, "closed without reply");
    }

    [Test]
    public async Task S18_BurstOfFramingErrors_OneWarningThenOneSummary()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        await using var table = new TableDouble("memcache:aliases");
        var handler = new SocketmapConnectionHandler(new Dictionary<string, ITable> { ["aliases"] = table },
            TimeSpan.FromMinutes(1), new Logger<SocketmapConnectionHandler>(log), time);
        await using var host = await KestrelTestHost.StartAsync(handler);

        for (int i = 0; i < Burst; i++) await SendAndWaitForClose(host, "x:");
        Assert.That(log.Warnings, Has.Count.EqualTo(1), string.Join("\n", log.Warnings));
        Assert.That(log.Warnings[0], Does.Contain("netstring format error; closing the connection without reply"));

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(log.Warnings, Has.Count.EqualTo(2), string.Join("\n", log.Warnings));
        Assert.That(log.Warnings[1], Does.Match($"socketmap .*: netstring format error: connections closed without reply: {Burst - 1} more in the last 10 s"));
    }

    [Test]
    public async Task S10_BurstOfOverLongLines_OneWarningThenOneSummary_PerCause()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        await using var table = new TableDouble("memcache:aliases");
        var handler = new TcpTableConnectionHandler(table, allowPut: false, idleTimeout: null,
            new Logger<TcpTableConnectionHandler>(log), time);
        await using var host = await KestrelTestHost.StartAsync(handler);

        string longLine = "get " + new string('x', TcpCodec.MaxRequestLine + 10);
        for (int i = 0; i < Burst; i++) await SendAndWaitForClose(host, longLine);
        Assert.That(log.Warnings, Has.Count.EqualTo(1), string.Join("\n", log.Warnings));

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(log.Warnings, Has.Count.EqualTo(2));
        Assert.That(log.Warnings[1], Does.Contain($"request line too long: connections closed without reply: {Burst - 1} more in the last 10 s"));
    }
}
