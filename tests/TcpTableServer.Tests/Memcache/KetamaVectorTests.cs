using System.Diagnostics;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// memcache_nodes placement: a key lives on the node libmemcached's ketama_weighted
/// distribution picks (pylibmc <c>behaviors={"ketama_weighted": True}</c>). The vectors in
/// tests/data/ketama were produced by scripts/ketama-vectors with Debian's python3-pylibmc
/// (libmemcached 1.0.18); the last test asks pylibmc again, with keys stored in running
/// memcached nodes.
/// </summary>
public class KetamaVectorTests
{
    private static string VectorDir => Path.Combine(Repo.Root(), "tests", "data", "ketama");

    /// <summary>"host:port[:weight]", "[v6]:port[:weight]" or a socket path (pylibmc's syntax) as a memcache_nodes entry.</summary>
    private static string NodeEntry(string pylibmc)
    {
        if (pylibmc.StartsWith('/')) return "unix:" + pylibmc;
        int close = pylibmc.IndexOf(']');   // [v6]:port[:weight]
        string host = close < 0 ? pylibmc.Split(':')[0] : pylibmc[..(close + 1)];
        var rest = pylibmc[(host.Length + 1)..].Split(':');
        return $"inet:{host}:{rest[0]}" + (rest.Length > 1 ? " weight=" + rest[1] : "");
    }

    private static (KetamaRing Ring, List<(string Key, int Node)> Keys, string Nodes) Load(string file)
    {
        var lines = File.ReadAllLines(Path.Combine(VectorDir, file)).Where(l => !l.StartsWith('#')).ToList();
        Assert.That(lines[0], Does.StartWith("nodes "));
        string nodes = string.Join(", ", lines[0][6..].Split(' ').Select(NodeEntry));
        var specs = MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes", nodes, "test.ini", 1));
        var ring = new KetamaRing([.. specs.Select(s => (s.KetamaName, s.Weight))]);
        var keys = lines.Skip(1).Select(l => l.Split(' ')).Select(p => (p[0], int.Parse(p[1]))).ToList();
        return (ring, keys, nodes);
    }

    [TestCase("three-nodes.txt")]               // ports other than 11211: "host:port-N" point names
    [TestCase("weighted-default-port.txt")]     // port 11211 left out of the names, a weight of 2
    [TestCase("mixed.txt")]                     // host names, IPv6, weights 3 and 5, mixed ports
    [TestCase("unix.txt")]                      // UNIX sockets: "path:0-N"
    public void Placement_equals_libmemcached_ketama_weighted_for_every_vector_key(string file)
    {
        var (ring, keys, nodes) = Load(file);
        Assert.That(keys, Has.Count.EqualTo(10000));
        var wrong = keys.Where(k => ring.NodeOf(k.Key) != k.Node).Select(k => $"{k.Key}: {ring.NodeOf(k.Key)} not {k.Node}").ToList();
        Assert.That(wrong, Is.Empty, $"{wrong.Count} of {keys.Count} keys placed differently from libmemcached on {nodes}");
    }

    [Test]
    public void Points_per_node_follow_libmemcached_weighted_formula()
    {
        Assert.That(new KetamaRing([("a:1", 1), ("b:1", 1), ("c:1", 1)]).PointCount, Is.EqualTo(480));   // 160 each
        Assert.That((KetamaRing.PointsOf(1, 4, 3), KetamaRing.PointsOf(2, 4, 3)), Is.EqualTo((120, 240)));
        Assert.That(KetamaRing.PointsOf(1, 3, 3), Is.EqualTo(160));   // 1/3 in float: 40.000004, floor 40
        Assert.That((KetamaRing.NodeName("10.0.0.1", 11211), KetamaRing.NodeName("10.0.0.1", 11212)), Is.EqualTo(("10.0.0.1", "10.0.0.1:11212")));
    }

    [Test]
    public void Replicas_are_the_next_distinct_nodes_along_the_ring()
    {
        var ring = new KetamaRing([("a:1", 1), ("b:1", 1), ("c:1", 2)], replicas: 2);
        for (int i = 0; i < 1000; i++)
        {
            int p = ring.PointOf($"user{i}@example.com");
            Assert.That(ring.Owner(p, 0), Is.EqualTo(ring.NodeOf($"user{i}@example.com")));
            Assert.That(ring.Owner(p, 1), Is.Not.EqualTo(ring.Owner(p, 0)));
        }
    }

    /// <summary>
    /// Regenerates placements with pylibmc against three running memcached nodes (weights 1, 1,
    /// 2): keys stored through libmemcached, each node then asked which keys it holds.
    /// </summary>
    [Test]
    public void Placement_equals_pylibmc_storing_into_running_memcached_nodes()
    {
        if (!PylibmcAvailable()) Assert.Ignore("python3-pylibmc is not installed (scripts/install-deps)");
        using var a = MemcachedProcess.Start();
        using var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        string pylibmcNodes = $"127.0.0.1:{a.Port} 127.0.0.1:{b.Port} 127.0.0.1:{c.Port}:2";
        var psi = new ProcessStartInfo(Path.Combine(Repo.Root(), "scripts", "ketama-vectors"))
        {
            ArgumentList = { pylibmcNodes, "--keys", "2000", "--real" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string errors = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, errors);
        var specs = MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes",
            $"{a.Endpoint}, {b.Endpoint}, {c.Endpoint} weight=2", "test.ini", 1));
        var ring = new KetamaRing([.. specs.Select(s => (s.KetamaName, s.Weight))]);
        var keys = output.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#') && !l.StartsWith("nodes ")).Select(l => l.Split(' ')).ToList();
        Assert.That(keys, Has.Count.EqualTo(2000));
        Assert.That(keys.Count(k => ring.NodeOf(k[0]) != int.Parse(k[1])), Is.Zero);
    }

    private static bool PylibmcAvailable()
    {
        if (!File.Exists("/usr/bin/python3")) return false;
        using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "import pylibmc"]) { RedirectStandardError = true })!;
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0;
    }
}
