using System.Net;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// The tcp: and socketmap: client tables' reply handling (spec 1.4 and 2.4, as Postfix's
/// dict_tcp and dict_sockmap) against a scripted server that answers each request with a
/// given reply: malformed and hostile replies cannot be produced by our real server (the
/// real-server chains are in ChainedTablesServerTests). Also: opening bad specs, and the
/// nested memcache loop guard.
/// </summary>
[TestFixture]
public sealed class ClientTableTests
{
    /// <summary>A listener answering every request (one read) with the next scripted reply; null closes the connection.</summary>
    private sealed class ScriptedServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Queue<string?> _replies;
        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int Accepted;

        public ScriptedServer(params string?[] replies)
        {
            _replies = new(replies);
            _listener.Start();
            _ = Task.Run(AcceptLoop);
        }

        private async Task AcceptLoop()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync();
                    Interlocked.Increment(ref Accepted);
                    _ = Task.Run(async () =>
                    {
                        using (client)
                        {
                            var s = client.GetStream();
                            var buf = new byte[65536];
                            while (await s.ReadAsync(buf) > 0)
                            {
                                string? reply;
                                lock (_replies) reply = _replies.Count > 0 ? _replies.Dequeue() : null;
                                if (reply is null) return;
                                await s.WriteAsync(Encoding.Latin1.GetBytes(reply));
                            }
                        }
                    });
                }
            }
            catch (ObjectDisposedException) { }
            catch (SocketException) { }
        }

        public void Dispose() => _listener.Stop();
    }

    private static async Task<LookupResult> TcpLookup(ScriptedServer s, string key = "k")
    {
        await using var t = TcpClientTable.Open($"127.0.0.1:{s.Port}", new ListLogger(), TimeSpan.FromSeconds(2));
        return await t.LookupAsync(key);
    }

    [TestCase("200 foo%20bar\n", LookupStatus.Found, "foo bar")]
    [TestCase("200 foo\r\n", LookupStatus.Found, "foo\r")]
    [TestCase("200\tx\n", LookupStatus.Found, "x")]
    [TestCase("200  x\n", LookupStatus.Found, " x")]
    [TestCase("200 a%00b\n", LookupStatus.Found, "a")]
    [TestCase("250 x\n", LookupStatus.Found, "x")]
    [TestCase("599 nope\n", LookupStatus.NotFound, null)]
    [TestCase("500 100%\n", LookupStatus.TempError, null)]
    [TestCase("450 later\n", LookupStatus.TempError, null)]
    [TestCase("300 what\n", LookupStatus.TempError, null)]
    [TestCase("2000 x\n", LookupStatus.TempError, null)]
    [TestCase("200x\n", LookupStatus.TempError, null)]
    public async Task TcpReply_AsDictTcp(string reply, LookupStatus status, string? value)
    {
        using var s = new ScriptedServer(reply);
        Assert.That(await TcpLookup(s), Is.EqualTo(new LookupResult(status, value)));
    }

    [TestCase("8:OK hello,", LookupStatus.Found, "hello")]
    [TestCase("08:OK hello,", LookupStatus.Found, "hello")]
    [TestCase("2:OK,", LookupStatus.Found, "")]
    [TestCase("4:OK  ,", LookupStatus.Found, " ")]
    [TestCase("9:NOTFOUND ,", LookupStatus.NotFound, null)]
    [TestCase("8:TEMP why,", LookupStatus.TempError, null)]
    [TestCase("7:TIMEOUT,", LookupStatus.TempError, null)]
    [TestCase("8:PERM why,", LookupStatus.ConfigError, null)]
    [TestCase("4:ok x,", LookupStatus.TempError, null)]
    [TestCase("0:,", LookupStatus.TempError, null)]
    [TestCase("4:OK x;", LookupStatus.TempError, null)]
    [TestCase("x:OK x,", LookupStatus.TempError, null)]
    [TestCase("100001:", LookupStatus.TempError, null)]
    public async Task SocketmapReply_AsDictSockmap(string reply, LookupStatus status, string? value)
    {
        using var s = new ScriptedServer(reply);
        await using var t = SocketmapClientTable.Open($"inet:127.0.0.1:{s.Port}:m", new ListLogger(), TimeSpan.FromSeconds(2));
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(new LookupResult(status, value)));
    }

    /// <summary>
    /// The connection is kept between requests; when the server closes it, the request is
    /// sent once more on a new connection (dict_sockmap's single retry) and answered.
    /// </summary>
    [Test]
    public async Task PersistentConnection_ServerClose_RetriedOnceOnNewConnection()
    {
        using var s = new ScriptedServer("200 a\n", "200 b\n", null, "200 c\n");
        await using var t = TcpClientTable.Open($"127.0.0.1:{s.Port}", new ListLogger(), TimeSpan.FromSeconds(2));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("a")));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("b")));
        Assert.That(s.Accepted, Is.EqualTo(1));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("c")));
        Assert.That(s.Accepted, Is.EqualTo(2));
    }

    /// <summary>
    /// Spec 1.4: after a 4xx reply or a status that is neither 2, 4 nor 5, dict_tcp closes its
    /// connection (ReplyState.CompleteClose): the next request goes out on a new connection.
    /// </summary>
    [TestCase("450 later\n")]
    [TestCase("300 what\n")]
    public async Task TcpTempOrBadStatus_ClosesTheConnection(string first)
    {
        using var s = new ScriptedServer(first, "200 a\n");
        await using var t = TcpClientTable.Open($"127.0.0.1:{s.Port}", new ListLogger(), TimeSpan.FromSeconds(2));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.TempError));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("a")));
        Assert.That(s.Accepted, Is.EqualTo(2), "the second request on a new connection");
    }

    /// <summary>
    /// Bytes after a reply (a server out of step) are never read as the answer to the next
    /// request: the connection is closed and the next request gets its own answer on a new one.
    /// </summary>
    [Test]
    public async Task TcpBytesAfterReply_NotKeptForTheNextRequest()
    {
        using var s = new ScriptedServer("200 a\n200 stale\n", "200 b\n");
        await using var t = TcpClientTable.Open($"127.0.0.1:{s.Port}", new ListLogger(), TimeSpan.FromSeconds(2));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("a")));
        Assert.That(await t.LookupAsync("x"), Is.EqualTo(LookupResult.Found("b")));
        Assert.That(s.Accepted, Is.EqualTo(2));
    }

    /// <summary>
    /// Spec 2 (Postfix 3.12 socketmap_max_query_size): a key over 10000 bytes answers not found
    /// with a warning, and nothing is sent (no connection is even opened).
    /// </summary>
    [Test]
    public async Task SocketmapKeyOverMaxQuery_NotFoundWithoutSending()
    {
        using var s = new ScriptedServer("8:OK hello,");
        var logs = new ListLogger();
        await using var t = SocketmapClientTable.Open($"inet:127.0.0.1:{s.Port}:m", logs, TimeSpan.FromSeconds(2));
        Assert.That(await t.LookupAsync(new string('k', SocketmapClientTable.MaxQuery + 1)), Is.EqualTo(LookupResult.NotFound));
        Assert.That(s.Accepted, Is.EqualTo(0));
        Assert.That(logs.Warnings, Has.Some.Contains("query too large"));
        Assert.That(await t.LookupAsync(new string('k', SocketmapClientTable.MaxQuery)), Is.EqualTo(LookupResult.Found("hello")), "10000 bytes are sent");
    }

    /// <summary>A server that never answers: TempError after the table's timeout, not a hang.</summary>
    [Test]
    public async Task SilentServer_TempErrorAfterTimeout()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            await using var t = SocketmapClientTable.Open($"inet:127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}:m",
                new ListLogger(), TimeSpan.FromMilliseconds(300));
            var started = DateTime.UtcNow;
            Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
            Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
        }
        finally { listener.Stop(); }
    }

    /// <summary>Nothing listening: TempError at once (connection refused).</summary>
    [Test]
    public async Task NothingListening_TempError()
    {
        await using var t = TcpClientTable.Open($"127.0.0.1:{FreePort.Next()}", new ListLogger());
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(await t.UpdateAsync("k", "v"), Is.EqualTo(UpdateResult.ConfigError), "read-only, as dict_tcp");
    }

    [TestCase("socketmap:inet:127.0.0.1:9000")]            // name 9000 at endpoint "inet:127.0.0.1": no port
    [TestCase("socketmap:bogus:x:name")]
    [TestCase("tcp:127.0.0.1:")]
    [TestCase("tcp:127.0.0.1:notaport")]
    public void BadSpec_ConfigException(string spec) =>
        Assert.That(() => new TableFactory(new ListLogger()).Open(spec, "/"), Throws.TypeOf<ConfigException>());

    /// <summary>A .cf whose backup names itself, and a -> b -> a, are refused at open naming the chain.</summary>
    [Test]
    public void NestedMemcache_Loop_ConfigException()
    {
        using var dir = new TempDir();
        dir.Write("self.cf", "memcache = inet:127.0.0.1:11211\nbackup = memcache:self.cf\n");
        dir.Write("a.cf", "memcache = inet:127.0.0.1:11211\nbackup = memcache:b.cf\n");
        dir.Write("b.cf", "memcache = inet:127.0.0.1:11211\nbackup = memcache:a.cf\n");
        var factory = new TableFactory(new ListLogger());
        Assert.That(() => factory.Open("memcache:self.cf", dir.Path), Throws.TypeOf<ConfigException>().With.Message.Contains("comes back to itself"));
        Assert.That(() => factory.Open("memcache:a.cf", dir.Path), Throws.TypeOf<ConfigException>().With.Message.Contains("comes back to itself"));
    }
}
