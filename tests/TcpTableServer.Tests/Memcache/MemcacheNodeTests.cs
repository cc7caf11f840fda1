using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// memcache_nodes with real memcached processes: keys land on their ketama node; killing one
/// of three nodes keeps every lookup of a map with a backup answering (its keys from the
/// backup, the others from their nodes) and never gives a wrong answer without one; a node's
/// return brings its keys back; replicas keep the keys on two nodes.
/// </summary>
[NonParallelizable]
public class MemcacheNodeTests
{
    private const int Keys = 3000;

    private static string Key(int i) => $"user{i}@example.com";

    private static FixedKeyTable Backup() =>
        new("test:backup", [.. Enumerable.Range(0, Keys).Select(i => (Key(i), $"v{i}"))]);

    private static MemcacheTable Open(IReadOnlyList<MemcachedProcess> nodes, ITable? backup, ListLogger logs, params string[] more)
    {
        var tables = new TestTableFactory();
        if (backup is not null) tables.Registered["test:backup"] = backup;
        return MemcacheTable.Open("nodes", Cf.Params([
            $"memcache_nodes = {string.Join(", ", nodes.Select(n => n.Endpoint))}", "smtputf8_enable = no", "timeout = 1",
            .. backup is null ? Array.Empty<string>() : ["backup = test:backup"], .. more]),
            tables, "/tmp", logs);
    }

    private static KetamaRing Ring(IReadOnlyList<MemcachedProcess> nodes, int replicas = 1) =>
        new([.. MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes", string.Join(", ", nodes.Select(n => n.Endpoint)), "t", 1))
            .Select(s => (s.KetamaName, s.Weight))], replicas);

    private static async Task<List<LookupResult>> LookupAll(MemcacheTable table)
    {
        var results = new List<LookupResult>(Keys);
        for (int i = 0; i < Keys; i++) results.Add(await table.LookupAsync(Key(i)));
        return results;
    }

    [Test]
    public async Task Each_key_is_stored_on_the_node_libmemcached_picks_and_no_other()
    {
        using var a = MemcachedProcess.Start();
        using var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [a, b, c];
        var logs = new ListLogger();
        await using var table = Open(nodes, null, logs);
        var ring = Ring(nodes);
        for (int i = 0; i < 300; i++)
            Assert.That((await table.UpdateAsync(Key(i), $"v{i}")).Status, Is.EqualTo(UpdateStatus.Success));
        for (int i = 0; i < 300; i++)
            for (int n = 0; n < 3; n++)
                Assert.That(nodes[n].Get(Key(i))?.Value, Is.EqualTo(n == ring.NodeOf(Key(i)) ? $"v{i}" : null), $"{Key(i)} on node {n}");
    }

    [Test]
    public async Task Killing_one_of_three_nodes_keeps_every_lookup_answering_and_its_return_brings_its_keys_back()
    {
        using var a = MemcachedProcess.Start();
        var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [a, b, c];
        var logs = new ListLogger();
        var backup = Backup();
        await using var table = Open(nodes, backup, logs, "memcache_node_failures = 2", "memcache_node_retry = 2");
        var ring = Ring(nodes);
        await LookupAll(table);   // backup hits, written back to each key's node
        Assert.That((await LookupAll(table)).All(r => r.Tier == AnswerTier.Memcached), "warm: every key from its node");

        int port = b.Port;
        b.Dispose();
        var started = DateTime.UtcNow;
        var afterKill = await LookupAll(table);
        double seconds = (DateTime.UtcNow - started).TotalSeconds;
        for (int i = 0; i < Keys; i++)
            Assert.That((afterKill[i].Status, afterKill[i].Value), Is.EqualTo((LookupStatus.Found, $"v{i}")), Key(i));
        int moved = afterKill.Count(r => r.Tier == AnswerTier.Backup);
        int onB = Enumerable.Range(0, Keys).Count(i => ring.NodeOf(Key(i)) == 1);
        TestContext.Out.WriteLine($"killing one of three nodes: {moved} of {Keys} keys ({100.0 * moved / Keys:F1}%) answered from the backup instead of memcached, every lookup answered ({seconds:F2} s for {Keys} lookups)");
        Assert.That(moved, Is.EqualTo(onB), "exactly the dead node's keys leave memcached; the others stay on their nodes");
        Assert.That((double)moved / Keys, Is.InRange(0.20, 0.45));
        Assert.That(logs.Warnings, Has.Some.Contains($"memcached node 127.0.0.1:{port} ejected after 2 consecutive failures"));

        // back where it was, empty: after the retry pause its keys are asked from it again
        using var back = MemcachedProcess.Start(port);
        await Task.Delay(2200);
        await LookupAll(table);   // misses on the returned node: backup, written back to it
        var afterReturn = await LookupAll(table);
        Assert.That(Enumerable.Range(0, Keys).Where(i => ring.NodeOf(Key(i)) == 1).All(i => afterReturn[i].Tier == AnswerTier.Memcached
            && back.Get(Key(i))?.Value == $"v{i}"), "the returned node holds and answers its keys");
        Assert.That(afterReturn.All(r => r.Tier == AnswerTier.Memcached));
        Assert.That(logs.Warnings, Has.Some.Contains($"memcached node 127.0.0.1:{port} answers again"));
    }

    /// <summary>
    /// Without a backup an ejected node's keys are temporary errors, as with memcache_table(5)'s
    /// one memcached down: never "not found" from another node (libmemcached's auto-eject
    /// would move them there and answer not found, a wrong answer).
    /// </summary>
    [Test]
    public async Task Without_backup_a_dead_nodes_keys_are_temporary_errors_never_not_found()
    {
        using var a = MemcachedProcess.Start();
        var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [a, b, c];
        var logs = new ListLogger();
        await using var table = Open(nodes, null, logs);
        var ring = Ring(nodes);
        for (int i = 0; i < 500; i++) await table.UpdateAsync(Key(i), $"v{i}");
        b.Dispose();
        for (int i = 0; i < 500; i++)
        {
            var r = await table.LookupAsync(Key(i));
            if (ring.NodeOf(Key(i)) == 1) Assert.That(r.Status, Is.EqualTo(LookupStatus.TempError), Key(i));
            else Assert.That((r.Status, r.Value), Is.EqualTo((LookupStatus.Found, $"v{i}")), Key(i));
        }
    }

    [Test]
    public async Task Replicas_2_store_each_key_on_its_two_ring_nodes_and_reads_survive_a_dead_node()
    {
        using var a = MemcachedProcess.Start();
        var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [a, b, c];
        var logs = new ListLogger();
        await using var table = Open(nodes, null, logs, "replicas = 2");
        var ring = Ring(nodes, replicas: 2);
        for (int i = 0; i < 500; i++)
            Assert.That((await table.UpdateAsync(Key(i), $"v{i}")).Status, Is.EqualTo(UpdateStatus.Success));
        for (int i = 0; i < 500; i++)
        {
            int p = ring.PointOf(Key(i));
            int[] holders = [ring.Owner(p, 0), ring.Owner(p, 1)];
            for (int n = 0; n < 3; n++)
                Assert.That(nodes[n].Get(Key(i))?.Value, Is.EqualTo(holders.Contains(n) ? $"v{i}" : null), $"{Key(i)} on node {n}");
        }
        b.Dispose();
        for (int i = 0; i < 500; i++)
        {
            var r = await table.LookupAsync(Key(i));
            Assert.That((r.Status, r.Value), Is.EqualTo((LookupStatus.Found, $"v{i}")), Key(i));
        }
        string onB = Enumerable.Range(0, 500).Select(Key).First(k => ring.Owner(ring.PointOf(k), 0) == 1 || ring.Owner(ring.PointOf(k), 1) == 1);
        string offB = Enumerable.Range(0, 500).Select(Key).First(k => ring.Owner(ring.PointOf(k), 0) != 1 && ring.Owner(ring.PointOf(k), 1) != 1);
        Assert.That((await table.DeleteAsync(onB)).Status, Is.EqualTo(UpdateStatus.TempError), "a write that misses a replica is not a success");
        Assert.That((await table.DeleteAsync(offB)).Status, Is.EqualTo(UpdateStatus.Success));
    }
}

/// <summary>query --explain with memcache_nodes: each attempt names its node; an ejected node is shown as not asked.</summary>
[NonParallelizable]
public class MemcacheNodeExplainTests
{
    [Test]
    public async Task Explain_names_the_node_of_each_attempt_and_an_ejected_node()
    {
        using var a = MemcachedProcess.Start();
        var b = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [a, b];
        var logs = new ListLogger();
        var tables = new TestTableFactory();
        await using var table = MemcacheTable.Open("nodes", Cf.Params(
            $"memcache_nodes = {a.Endpoint}, {b.Endpoint}", "smtputf8_enable = no", "memcache_node_failures = 1"), tables, "/tmp", logs);
        var ring = new KetamaRing([.. table.Settings.Nodes!.Select(s => (s.KetamaName, s.Weight))]);
        string onB = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => ring.NodeOf(k) == 1);

        var trace = new TcpTableServer.Explain.LookupTrace();
        using (TcpTableServer.Explain.LookupTrace.Attach(trace)) await table.LookupAsync(onB);
        var report = TcpTableServer.Explain.ExplainReport.Format("nodes", onB, null, table.Settings, trace, LookupResult.NotFound, 1);
        Assert.That(report, Does.Contain($"memcached get attempt 1 of max_try 2 on node {b.Endpoint}: not found"), report);
        Assert.That(report, Does.Contain($"memcache_nodes = {a.Endpoint}, {b.Endpoint} (ketama; replicas = 1)"), report);

        b.Dispose();
        await table.LookupAsync(onB);   // connect refused: ejected (memcache_node_failures = 1)
        trace = new TcpTableServer.Explain.LookupTrace();
        using (TcpTableServer.Explain.LookupTrace.Attach(trace)) await table.LookupAsync(onB);
        report = TcpTableServer.Explain.ExplainReport.Format("nodes", onB, null, table.Settings, trace, LookupResult.TempError, 75);
        Assert.That(report, Does.Contain($"memcached get: node {b.Endpoint} is ejected (memcache_node_failures): not asked"), report);
    }
}

/// <summary>Ejection and the retry trial of one node, on a fake clock (the node is a closed port: connects are refused).</summary>
public class MemcacheNodeEjectionTests
{
    [Test]
    public async Task Ejected_after_N_consecutive_failures_then_one_request_at_a_time_tries_it_after_the_retry_pause()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var logs = new ListLogger();
        var endpoint = EndpointSpec.TryParse($"inet:127.0.0.1:{FreePort.Closed()}", out _)!;
        var settings = MemcacheSettings.Defaults(endpoint) with { NodeFailures = 3, NodeRetry = 30 };
        using var log = new MemcacheLog(logs, "memcache:t");
        var node = new MemcacheNode(new MemcacheNodeSpec(endpoint, 1), settings, "memcache:t", log, clock);
        await using var client = node.Client;

        for (int i = 1; i <= 3; i++)
        {
            Assert.That(node.IsUsable, Is.True, $"failure {i - 1} of 3: still live");
            Assert.That((await client.GetAsync("k")).Status, Is.EqualTo(LookupStatus.TempError));
        }
        Assert.That(node.IsUsable, Is.False, "ejected after 3 consecutive failures");
        Assert.That(logs.Warnings, Has.One.Contains("ejected after 3 consecutive failures"));

        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.That(node.IsUsable, Is.False, "before memcache_node_retry");
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That(node.IsUsable, Is.True, "the first request after the pause is the trial");
        Assert.That(node.IsUsable, Is.False, "the others keep away while it runs");
        Assert.That((await client.GetAsync("k")).Status, Is.EqualTo(LookupStatus.TempError));
        Assert.That(node.IsUsable, Is.False, "a failed trial: another pause");
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.That(node.IsUsable, Is.True);
    }
}
