using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>POLICY memcache_nodes, memcache_node_failures, memcache_node_retry, replicas: syntax and validation.</summary>
public class MemcacheNodeSettingsTests
{
    private static MemcacheSettings Parse(params string[] lines) =>
        MemcacheSettings.Parse(Cf.Params(lines), new TestTableFactory(), "/etc/postfix", "test", NullLogger.Instance);

    private static string Fatal(params string[] lines) =>
        Assert.Throws<ConfigException>(() => Parse(lines))!.Message;

    [Test]
    public void Nodes_with_weights_and_defaults()
    {
        var s = Parse("memcache_nodes = inet:10.0.0.1:11211, inet:10.0.0.2:11212 ,inet:[2001:db8::1]:11213 weight=2, unix:/run/m.sock");
        Assert.That(s.IsMultiNode, Is.True);
        Assert.That(s.Nodes!.Select(n => n.ToString()), Is.EqualTo(new[]
            { "inet:10.0.0.1:11211", "inet:10.0.0.2:11212", "inet:[2001:db8::1]:11213 weight=2", "unix:/run/m.sock" }));
        Assert.That(s.Nodes!.Select(n => n.KetamaName), Is.EqualTo(new[] { "10.0.0.1", "10.0.0.2:11212", "2001:db8::1:11213", "/run/m.sock:0" }));
        Assert.That((s.NodeFailures, s.NodeRetry, s.Replicas), Is.EqualTo((2, 30, 1)));
        Assert.That(s.Memcache.ToString(), Is.EqualTo("inet:localhost:11211"), "the .cf's memcache stays Postfix's");
    }

    [Test]
    public void One_node_is_the_single_memcached_of_memcache_table_5()
    {
        var s = Parse("memcache = inet:127.0.0.1:1", "memcache_nodes = inet:10.0.0.7:11300");
        Assert.That(s.IsMultiNode, Is.False);
        Assert.That(s.Nodes, Is.Null);
        Assert.That(s.Memcache.ToString(), Is.EqualTo("inet:10.0.0.7:11300"));
        Assert.That(Parse("ttl = 5").IsMultiNode, Is.False);
    }

    [TestCase("memcache_nodes = inet:10.0.0.1:11211,", "memcache_nodes: empty node")]
    [TestCase("memcache_nodes = inet:10.0.0.1:memcache, inet:10.0.0.2:11211", "memcache_nodes: node inet:10.0.0.1:memcache: the port must be a number")]
    [TestCase("memcache_nodes = inet:10.0.0.1:11211 weight=0, inet:10.0.0.2:11211", "memcache_nodes: node inet:10.0.0.1:11211: bad option \"weight=0\"")]
    [TestCase("memcache_nodes = inet:10.0.0.1:11211 heavy, inet:10.0.0.2:11211", "memcache_nodes: node inet:10.0.0.1:11211: bad option \"heavy\"")]
    [TestCase("memcache_nodes = inet:10.0.0.1:11211, inet:10.0.0.1:11211 weight=2", "memcache_nodes: node inet:10.0.0.1:11211 is listed twice")]
    [TestCase("memcache_nodes = 10.0.0.1:11211, inet:10.0.0.2:11211", "memcache_nodes: unknown transport")]
    public void Bad_node_lists_name_the_parameter_file_and_line(string line, string message) =>
        Assert.That(Fatal(line), Does.StartWith("test.cf:1: " + message));

    [Test]
    public void Failures_retry_and_replicas_are_checked()
    {
        const string nodes = "memcache_nodes = inet:10.0.0.1:11211, inet:10.0.0.2:11211";
        var s = Parse(nodes, "memcache_node_failures = 3", "memcache_node_retry = 5", "replicas = 2");
        Assert.That((s.NodeFailures, s.NodeRetry, s.Replicas), Is.EqualTo((3, 5, 2)));
        Assert.That(Fatal(nodes, "replicas = 3"), Does.StartWith("test.cf:2: replicas: invalid parameter value 3 > 2"));
        Assert.That(Fatal(nodes, "replicas = 0"), Does.StartWith("test.cf:2: replicas: invalid parameter value 0 < 1"));
        Assert.That(Fatal(nodes, "memcache_node_failures = 0"), Does.StartWith("test.cf:2: memcache_node_failures: invalid parameter value 0 < 1"));
        Assert.That(Fatal(nodes, "memcache_node_retry = x"), Does.StartWith("test.cf:2: memcache_node_retry: bad numerical configuration: x"));
    }

    /// <summary>The options are INI map-section options: the .cf stays a file Postfix reads.</summary>
    [Test]
    public void The_INI_map_section_accepts_the_node_options()
    {
        using var dir = new TempDir();
        dir.Write("t.ini", """
            [maps:users]
            tcp = inet:127.0.0.1:10025
            memcache_nodes = inet:127.0.0.1:11211, inet:127.0.0.1:11212 weight=2
            memcache_node_failures = 3
            memcache_node_retry = 10
            replicas = 2
            """);
        var def = ServerConfigLoader.Load(dir.File("t.ini"), NullLogger.Instance);
        var s = MemcacheSettings.Parse(def.Maps[0].Parameters, new TestTableFactory(), dir.Path, "users", NullLogger.Instance);
        Assert.That((s.Nodes!.Count, s.Nodes[1].Weight, s.NodeFailures, s.NodeRetry, s.Replicas), Is.EqualTo((2, 2, 3, 10, 2)));
    }
}
