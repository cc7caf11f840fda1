using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>tcp_table over real loopback sockets through Kestrel (spec 1.5, 1.7, S02-S12, S24).</summary>
public class TcpEndToEndTests
{
    private static TableDouble Aliases() => new TableDouble("memcache:aliases")
        .With("user@example.com", "alice@example.org")
        .With("tempfail", LookupResult.TempError)
        .With("configfail", LookupResult.ConfigError);

    private static Task<KestrelTestHost> Serve(
        ITable table, bool allowPut = false, TimeSpan? idle = null, string? unixSocket = null) =>
        KestrelTestHost.StartAsync(
            new TcpTableConnectionHandler(table, allowPut, idle, NullLogger<TcpTableConnectionHandler>.Instance),
            unixSocket);

    private static async Task<string> Exchange(Socket socket, string request, int replyLength)
    {
        await socket.SendAllAsync(Bytes.Of(request));
        return Bytes.Text(await socket.ReceiveAtMostAsync(replyLength));
    }

    [Test]
    public async Task S02_PipelinedRequestsAnsweredInOrder()
    {
        await using var host = await Serve(Aliases());
        using var socket = await host.ConnectAsync();
        const string expected = "200 alice@example.org\n500 not-found\n400 temporary-failure\n400 configuration-error\n";
        string replies = await Exchange(socket,
            "get user@example.com\nget nobody@example.com\nget tempfail\nget configfail\n", expected.Length);
        Assert.That(replies, Is.EqualTo(expected));
    }

    [Test]
    public async Task S04_S08_BadRequestsKeepTheConnection()
    {
        await using var host = await Serve(Aliases());
        using var socket = await host.ConnectAsync();
        string[] bad = ["GET user@example.com\n", "delete user@example.com\n", "get\n", "get a%zz\n",
            "get a%4\n", "get 100%\n", "get john smith@example.com\n", "get a%00b\n", "put k v\n"];
        foreach (string request in bad)
            Assert.That(await Exchange(socket, request, 16), Is.EqualTo("400 bad-request\n"), request);
        Assert.That(await Exchange(socket, "get user@example.com\r\n", 22), Is.EqualTo("200 alice@example.org\n"), "S03");
    }

    [Test]
    public async Task V61_S05_EmptyKeyIsLookedUp()
    {
        var table = Aliases();
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "get \n", 14), Is.EqualTo("500 not-found\n"));
        Assert.That(table.LookedUp, Is.EqualTo(new[] { "" }));
    }

    [Test]
    public async Task S01_V07_DecodedKeyReachesTheTable()
    {
        var table = new TableDouble().With("J\u00c3\u0096RG@example.com", "joerg");
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "get J%c3%96RG@example.com\n", 10), Is.EqualTo("200 joerg\n"));
    }

    [Test]
    public async Task S09_ReplyLengthLimitOnTheWire()
    {
        var table = new TableDouble().With("big1", new string('x', 4091)).With("big2", new string('x', 4092));
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "get big1\n", 4096), Is.EqualTo("200 " + new string('x', 4091) + "\n"));
        Assert.That(await Exchange(socket, "get big2\n", 19), Is.EqualTo("400 reply-too-long\n"));
    }

    [Test]
    public async Task S10_OverLongLineClosesWithoutReplyAndNextConnectionIsServed()
    {
        await using var host = await Serve(Aliases());
        using (var socket = await host.ConnectAsync())
        {
            await socket.SendAllAsync(new byte[70000].Select(_ => (byte)'x').ToArray());
            Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        }
        using var next = await host.ConnectAsync();
        Assert.That(await Exchange(next, "get user@example.com\n", 22), Is.EqualTo("200 alice@example.org\n"));
    }

    [Test]
    public async Task S11_PutDisabledIsBadRequestAndDoesNotUpdate()
    {
        var table = Aliases();
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "put k v\n", 16), Is.EqualTo("400 bad-request\n"));
        Assert.That(table.Updated, Is.Empty);
    }

    [Test]
    public async Task S12_PutEnabledUpdatesWithDecodedKeyAndValue()
    {
        var table = Aliases();
        await using var host = await Serve(table, allowPut: true);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "put User@Example.com a%20b\n", 7), Is.EqualTo("200 ok\n"));
        Assert.That(table.Updated, Is.EqualTo(new[] { ("User@Example.com", "a b") }));
        table.UpdateResult = UpdateResult.Fail;
        Assert.That(await Exchange(socket, "put user@other.org v\n", 16), Is.EqualTo("500 not-updated\n"));
    }

    [Test]
    public async Task Spec1_7_TableExceptionBecomesTemporaryFailure()
    {
        var table = Aliases().Throwing("boom", new InvalidOperationException("table bug"));
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "get boom\n", 22), Is.EqualTo("400 temporary-failure\n"));
        Assert.That(await Exchange(socket, "get user@example.com\n", 22), Is.EqualTo("200 alice@example.org\n"));
    }

    [Test]
    public async Task S24_HalfCloseAnswersPendingRequestsThenCloses()
    {
        await using var host = await Serve(Aliases());
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("get user@example.com\nget nobody@example.com\n"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()),
            Is.EqualTo("200 alice@example.org\n500 not-found\n"));
    }

    [Test]
    public async Task S24_HalfCloseWithSlowTable_StillAnswersEveryRequest()
    {
        var table = Aliases();
        table.Delay = TimeSpan.FromMilliseconds(100); // the FIN arrives while the lookup is in flight
        await using var host = await Serve(table);
        using var socket = await host.ConnectAsync();
        await socket.SendAllAsync(Bytes.Of("get user@example.com\nget nobody@example.com\n"));
        socket.Shutdown(SocketShutdown.Send);
        Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()),
            Is.EqualTo("200 alice@example.org\n500 not-found\n"));
    }

    [Test]
    public async Task GracefulStop_AnswersInFlightRequestThenCloses()
    {
        var table = Aliases();
        table.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var host = await Serve(table);
        await using (host)
        {
            using var socket = await host.ConnectAsync();
            await socket.SendAllAsync(Bytes.Of("get user@example.com\n"));
            await table.Entered.Task.WaitAsync(TimeSpan.FromSeconds(5));

            var clock = Stopwatch.StartNew();
            Task stopping = host.StopAsync();
            await Task.Delay(100);
            Assert.That(stopping.IsCompleted, Is.False, "stop waits for the in-flight request");
            table.Gate.SetResult();

            Assert.That(Bytes.Text(await socket.ReceiveToEndAsync()), Is.EqualTo("200 alice@example.org\n"));
            await stopping.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "closed gracefully, not by the shutdown timeout");
        }
    }

    [Test]
    public async Task GracefulStop_ClosesIdleConnectionPromptly()
    {
        var host = await Serve(Aliases());
        await using (host)
        {
            using var socket = await host.ConnectAsync();
            Assert.That(await Exchange(socket, "get user@example.com\n", 22), Is.EqualTo("200 alice@example.org\n"));
            var clock = Stopwatch.StartNew();
            await host.StopAsync();
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
            Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        }
    }

    [Test]
    public async Task Spec1_5_IdleTimeoutClosesTheConnection()
    {
        await using var host = await Serve(Aliases(), idle: TimeSpan.FromMilliseconds(200));
        using var socket = await host.ConnectAsync();
        Assert.That(await Exchange(socket, "get user@example.com\n", 22), Is.EqualTo("200 alice@example.org\n"));
        var clock = Stopwatch.StartNew();
        Assert.That(await socket.ReceiveToEndAsync(), Is.Empty);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(150)));
    }

    [Test]
    public async Task Spec1_5_NoIdleTimeoutKeepsTheConnection()
    {
        await using var host = await Serve(Aliases(), idle: null);
        using var socket = await host.ConnectAsync();
        await Task.Delay(400);
        Assert.That(await Exchange(socket, "get user@example.com\n", 22), Is.EqualTo("200 alice@example.org\n"));
    }

    [Test]
    public async Task Spec1_7_ManyConcurrentConnections()
    {
        var table = new TableDouble();
        for (int i = 0; i < 20; i++) table.With($"k{i}", $"v{i}");
        await using var host = await Serve(table);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var socket = await host.ConnectAsync();
            for (int round = 0; round < 5; round++)
                Assert.That(await Exchange(socket, $"get k{i}\n", 4 + $"v{i}".Length + 1), Is.EqualTo($"200 v{i}\n"));
        }));
    }

    [Test]
    public async Task Spec1_7_UnixSocketListener()
    {
        string dir = Directory.CreateTempSubdirectory("tts-").FullName;
        try
        {
            await using var host = await Serve(Aliases(), unixSocket: Path.Combine(dir, "tcp.sock"));
            using var socket = await host.ConnectAsync();
            Assert.That(await Exchange(socket, "get user@example.com\nget x\n", 36),
                Is.EqualTo("200 alice@example.org\n500 not-found\n"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
