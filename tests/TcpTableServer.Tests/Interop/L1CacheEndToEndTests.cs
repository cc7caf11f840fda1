using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The L1 cache end to end: the server binary with <c>l1_ttl</c> on a map, a real
/// memcached, and Postfix's socketmap client. The staleness the README documents is
/// observable: a changed memcached item is not seen until the L1 entry expires; a tcp
/// <c>put</c> to this server is seen at once.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class L1CacheEndToEndTests
{
    private const int L1TtlSeconds = 2;

    [Test]
    public void L1_ServesTheCachedAnswerUntilL1TtlThenTheNewItem_AndPutInvalidates()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        using var dir = new TempDir();
        using var mc = MemcachedProcess.Start();
        var postfix = new Postfix(dir.Path);
        int socketmap = FreePort.Next(), tcp = FreePort.Next();
        dir.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = a:%s\n");
        string ini = dir.File("server.ini", $"""
            [server]
            socketmap = inet:127.0.0.1:{socketmap}

            [maps:a]
            config = a.cf
            tcp = inet:127.0.0.1:{tcp}
            allow_put = yes
            l1_ttl = {L1TtlSeconds}s
            """);
        using var server = ServerProcess.Serve(ini, socketmap, tcp);
        string table = $"socketmap:inet:127.0.0.1:{socketmap}:a";
        string? Query(string key) => postfix.Value(key, table);

        mc.Set("a:user@example.com", "v1");
        var sinceCached = Stopwatch.StartNew();
        Assert.That(Query("User@Example.com"), Is.EqualTo("v1"), server.Stderr);
        mc.Set("a:user@example.com", "v2");
        string? stale = Query("user@example.com");
        if (sinceCached.Elapsed < TimeSpan.FromSeconds(L1TtlSeconds))
            Assert.That(stale, Is.EqualTo("v1"), "within l1_ttl the L1 answers, not memcached");

        string? fresh = stale;
        var seenAt = sinceCached.Elapsed;
        while (fresh != "v2" && sinceCached.Elapsed < TimeSpan.FromSeconds(L1TtlSeconds + 10))
        {
            Thread.Sleep(200);
            fresh = Query("user@example.com");
            seenAt = sinceCached.Elapsed;
        }
        Assert.That(fresh, Is.EqualTo("v2"), "after l1_ttl the new item is seen");
        Assert.That(seenAt, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(L1TtlSeconds)), "never before l1_ttl");

        Assert.That(RawSocket.Exchange(tcp, "put user@example.com v3\n"), Is.EqualTo("200 ok\n"));
        Assert.That(Query("user@example.com"), Is.EqualTo("v3"), "a put on this server drops its L1 entry");
        Assert.That(mc.Get("a:user@example.com"), Is.EqualTo(("v3", 0)));
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }
}
