using System.Net;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// memcache_nodes in the real server process: the INI map section spreads the keys over three
/// real memcached nodes while the .cf keeps the one <c>memcache</c> Postfix reads (here a closed
/// port, never contacted); /health probes every node and names a dead one when the map has no
/// backup.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class MemcacheNodesServerTests
{
    [Test]
    public async Task Server_reads_each_key_from_its_ketama_node_and_health_names_a_dead_node()
    {
        using var a = MemcachedProcess.Start();
        var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        try
        {
            MemcachedProcess[] nodes = [a, b, c];
            string list = string.Join(", ", nodes.Select(n => n.Endpoint));
            var ring = new KetamaRing([.. MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes", list, "t", 1)).Select(s => (s.KetamaName, s.Weight))]);
            for (int i = 0; i < 30; i++) nodes[ring.NodeOf($"k{i}")].Set($"k{i}", $"v{i}");

            using var d = new TempDir();
            int sm = FreePort.Next(), http = FreePort.Next();
            d.File("m.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\n");
            var ini = d.File("server.ini",
                $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:m]\nconfig = m.cf\nmemcache_nodes = {list}\nsmtputf8_enable = no\n");
            using var server = ServerProcess.Serve(ini, sm, http);
            using var web = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

            for (int i = 0; i < 30; i++)
                Assert.That(RawSocket.Exchange(sm, $"{2 + $"k{i}".Length}:m k{i},"), Is.EqualTo($"{3 + $"v{i}".Length}:OK v{i},"), $"k{i}");
            using (var ok = await web.GetAsync($"http://127.0.0.1:{http}/health"))
                Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK), "every node answers (the .cf's memcache is not probed)");

            b.Dispose();
            using var down = await web.GetAsync($"http://127.0.0.1:{http}/health");
            string body = await down.Content.ReadAsStringAsync();
            Assert.That(down.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
            Assert.That(body, Does.StartWith($"m: memcached {b.Endpoint}: ").And.Contain("no backup"));
            Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
        }
        finally
        {
            b.Dispose();
        }
    }
}
