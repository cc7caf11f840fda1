using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>socketmap over real loopback sockets through Kestrel (spec 2.5, 2.6, S13-S24).</summary>
public class SocketmapEndToEndTests
{
    private TableDouble _aliases = null!;
    private TableDouble _plain = null!;

    [SetUp]
    public void Tables()
    {
        _aliases = new TableDouble("memcache:aliases")
            .With("user@example.com", "alice@example.org")
            .With("tempfail", LookupResult.TempError)
            .With("configfail", LookupResult.ConfigError)
            .Throwing("boom", new InvalidOperationException("table bug"));
        _plain = new TableDouble("memcache:plain")
            .With("user@example.com", "plain-value")
            .With("b1", new string('x', 99997))
            .With("b2", new string('x', 99998))
            .With("k3", "");
    }

    [TearDown]
    public async Task DisposeTables()
    {
        await _aliases.DisposeAsync();
        await _plain.DisposeAsync();
    }

    private Task<KestrelTestHost> Serve(TimeSpan? idle = null, string? unixSocket = null)
    {
        var maps = new Dictionary<string, ITable> { ["aliases"] = _aliases, ["plain"] = _plain };
        return KestrelTestHost.StartAsync(
            new SocketmapConnectionHandler(maps, idle ?? TimeSpan.FromMinutes(1),
                NullLogger<SocketmapConnectionHandler>.Instance),
            unixSocket);
    }

    private static async Task<string> Exchange(Socket socket, string request, int replyLength)
    {
        await socket.SendAllAsync(Bytes.Of(request));
        return Bytes.Text(await socket.ReceiveAtMostAsync(replyLength));
    }

    [Test]
    public async Task S20_InterleavedMapNamesAnsweredInOrder()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        const string expected = "20:OK alice@example.org,14:OK plain-value,";
        Assert.That(await Exchange(socket, "24:aliases user@example.com,22:plain user@example.com,", expected.Length),
            Is.EqualTo(expected));
    }

    [TestCase("24:unknown user@example.com,", "16:PERM unknown-map,", TestName = "S13_UnknownMap")]
    [TestCase("24:ALIASES user@example.com,", "16:PERM unknown-map,", TestName = "S14_MapNamesCaseSensitive")]
    [TestCase("7:aliases,", "16:PERM bad-request,", TestName = "S15_NoSpace")]
    [TestCase("0:,", "16:PERM bad-request,", TestName = "S16_EmptyPayload")]
    [TestCase("0024:aliases user@example.com,", "20:OK alice@example.org,", TestName = "S17_LeadingZeros")]
    [TestCase("00000000000000000000024:aliases user@example.com,", "20:OK alice@example.org,", TestName = "S17_TwentyOneLeadingZeros")]
    [TestCase("26:aliases nobody@example.com,", "9:NOTFOUND ,", TestName = "V02_NotFound")]
    [TestCase("16:aliases tempfail,", "22:TEMP temporary-failure,", TestName = "Spec3_12_TempError")]
    [TestCase("18:aliases configfail,", "24:PERM configuration-error,", TestName = "Spec3_12_ConfigError")]
    [TestCase("12:aliases boom,", "22:TEMP temporary-failure,", TestName = "Spec2_6_TableExceptionIsTemporary")]
    [TestCase("8:plain k3,", "3:OK ,", TestName = "V11_EmptyValue")]
    [TestCase("29:aliases-long-name-not-there x,", "16:PERM unknown-map,", TestName = "S13_NameLongerThanAnyMap")]
    public async Task RepliesAndConnectionStaysOpen(string request, string reply)
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, request, reply.Length), Is.EqualTo(reply));
        Assert.That(await Exchange(socket, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
    }

    [Test]
    public async Task S22_S23_KeysReachTheTableRaw()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "31:aliases john smith@example.com ,11:aliases a\nb,8:aliases ,", 36),
            Is.EqualTo("9:NOTFOUND ,9:NOTFOUND ,9:NOTFOUND ,"));
        Assert.That(_aliases.LookedUp, Is.EqualTo(new[] { "john smith@example.com ", "a\nb", "" }));
    }

    [TestCase(" 24:aliases user@example.com,", TestName = "S18_LeadingSpace")]
    [TestCase("+24:aliases user@example.com,", TestName = "S18_Sign")]
    [TestCase("24 :aliases user@example.com,", TestName = "S18_SpaceBeforeColon")]
    [TestCase("x:aliases user@example.com,", TestName = "S18_Letter")]
    [TestCase("24:aliases user@example.com;", TestName = "S18_WrongTerminator")]
    [TestCase("2000000:", TestName = "S19_OverLimitClosesWithoutPayload")]
    public async Task FramingErrorClosesWithoutReplyAndNextConnectionIsServed(string request)
    {
        await using var host = await Serve();
        using (var socket = await host.ConnectAsync())
        {
            await socket.SendAllAsync(Bytes.Of(request));
            Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        }
        Assert.That(_aliases.LookedUp, Is.Empty);
        using var next = await host.ConnectAsync();
        Assert.That(await Exchange(next, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
    }

    /// <summary>S17: leading zeros are accepted in any number, more of them than the 1 MiB request limit included.</summary>
    [Test]
    public async Task S17_TwoMebibytesOfLeadingZerosThenTheRequestIsAnswered()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        string zeros = new('0', 2 * SocketmapConnectionHandler.MaxRequestPayload);
        Assert.That(await Exchange(socket, zeros + "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
        Assert.That(await Exchange(socket, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
    }

    [Test]
    public async Task S18_EofInsidePayloadClosesWithoutReply()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("24:aliases user"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        Assert.That(_aliases.LookedUp, Is.Empty);
    }

    [Test]
    public async Task S18_RequestsBeforeAFramingErrorAreStillAnswered()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,x:"));
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("20:OK alice@example.org,"));
    }

    [Test]
    public async Task S19_RequestOfExactlyTheLimitIsServed()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        string key = new('k', SocketmapConnectionHandler.MaxRequestPayload - "aliases ".Length);
        string request = $"{SocketmapConnectionHandler.MaxRequestPayload}:aliases {key},";
        Assert.That(await Exchange(socket, request, 12), Is.EqualTo("9:NOTFOUND ,"));
        Assert.That(_aliases.LookedUp.Single(), Has.Length.EqualTo(key.Length));
    }

    [Test]
    public async Task S21_ReplySizeLimitOnTheWire()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        string big = await Exchange(socket, "8:plain b1,", 100_008);
        Assert.That(big, Is.EqualTo("100000:OK " + new string('x', 99997) + ","));
        Assert.That(await Exchange(socket, "8:plain b2,", 23), Is.EqualTo("19:TEMP reply-too-long,"));
    }

    [Test]
    public async Task S24_HalfCloseAnswersPendingRequestsThenCloses()
    {
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,26:aliases nobody@example.com,"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("20:OK alice@example.org,9:NOTFOUND ,"));
    }

    [Test]
    public async Task S24_HalfCloseWithSlowTable_StillAnswersEveryRequest()
    {
        _aliases.Delay = TimeSpan.FromMilliseconds(100); // the FIN arrives while the lookup is in flight
        await using var host = await Serve();
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,26:aliases nobody@example.com,"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("20:OK alice@example.org,9:NOTFOUND ,"));
    }

    [Test]
    public async Task GracefulStop_AnswersInFlightRequestThenCloses()
    {
        _aliases.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await Serve();
        await using (host)
        {
            using var socket = await host.ConnectAsync();
            await socket.SendAllAsync(Bytes.Of("24:aliases user@example.com,"));
            await _aliases.Entered.Task.WaitAsync(TimeSpan.FromSeconds(5));

            var clock = Stopwatch.StartNew();
            Task stopping = host.StopAsync();
            await Task.Delay(100);
            Assert.That(stopping.IsCompleted, Is.False, "stop waits for the in-flight request");
            _aliases.Gate.SetResult();

            Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("20:OK alice@example.org,"));
            await stopping.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        }
    }

    [Test]
    public async Task Spec2_6_IdleTimeoutClosesTheConnection()
    {
        await using var host = await Serve(idle: TimeSpan.FromMilliseconds(200));
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
        var clock = Stopwatch.StartNew();
        Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(150)));
    }

    [Test]
    public async Task Spec2_6_IdleTimeoutCountsFromTheLastRequestOfEachConnection()
    {
        await using var host = await Serve(idle: TimeSpan.FromMilliseconds(300));
        using var gone = await host.ConnectAsync();
        using var busy = await host.ConnectAsync();
        using var idle = await host.ConnectAsync();
        gone.Close(); // leaves the shared idle sweeper while the others stay registered
        var clock = Stopwatch.StartNew();
        Task<byte[]> idleEnd = idle.ReceiveToEndAsync();
        TimeSpan lastAnswer = default;
        while (clock.Elapsed < TimeSpan.FromMilliseconds(900))
        {
            Assert.That(await Exchange(busy, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"),
                $"busy connection answered at {clock.ElapsedMilliseconds} ms");
            lastAnswer = clock.Elapsed;
            await Task.Delay(100);
        }
        Assert.That(idleEnd.IsCompleted, Is.True, "the idle connection was closed meanwhile");
        Assert.That(await idleEnd, Is.Empty);
        Assert.That(await busy.ReceiveToEndAsync(), Is.Empty);
        // closed one idle timeout (300 ms) after its last request, not earlier (sweeper slack allowed)
        Assert.That(clock.Elapsed - lastAnswer, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(200)));
    }

    [Test]
    public async Task Spec2_6_UnixSocketListener()
    {
        string dir = Directory.CreateTempSubdirectory("tts-").FullName;
        try
        {
            await using var host = await Serve(unixSocket: Path.Combine(dir, "socketmap.sock"));
            using var socket = await host.ConnectAsync();
            Assert.That(await Exchange(socket, "24:aliases user@example.com,", 24), Is.EqualTo("20:OK alice@example.org,"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
