using System.Diagnostics;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>memcached client details beyond the vectors (spec 3.8, 3.9).</summary>
public class MemcachedClientTests
{
    [TestCase("VALUE k 0 3", 3L)]
    [TestCase("VALUE other 5 3 99", 3L)]
    [TestCase("VALUE k 0 -1", -1L)]
    [TestCase("VALUE\tk\t0\t+7x", 7L)]
    [TestCase("VALUEk 0 3", 3L)]
    [TestCase("VALUE k 0 99999999999999999999999", long.MaxValue)]
    public void Section3_8_value_line_is_scanned_like_sscanf(string line, long expected)
    {
        Assert.That(MemcachedReplyParser.TryScanValueLine(Octets.ToBytes(line), out long n), Is.True);
        Assert.That(n, Is.EqualTo(expected));
    }

    [TestCase("VALUE k 0")]
    [TestCase("VALUE k 0 x")]
    [TestCase(" VALUE k 0 3")]
    [TestCase("value k 0 3")]
    [TestCase("VALUE")]
    public void Section3_8_value_line_without_length_is_unexpected(string line) =>
        Assert.That(MemcachedReplyParser.TryScanValueLine(Octets.ToBytes(line), out _), Is.False);

    [Test]
    public async Task Section3_9_stale_pooled_connection_is_replaced_without_retry_pause()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("k", "v");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        rig.Fake.DropConnections();
        await Task.Delay(100);
        var clock = Stopwatch.StartNew();
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(0.5), "no retry_pause after a memcached-side close");
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task Section3_9_persistent_connection_is_reused()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("C", "retry_pause = 1");
        Assert.That(await t.UpdateAsync("a", "1"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await t.LookupAsync("a"), Is.EqualTo(LookupResult.Found("1")));
        Assert.That(await t.DeleteAsync("a"), Is.EqualTo(UpdateResult.Success));
        rig.AssertTraffic("set a 0 3600 1\r\n1\r\nget a\r\ndelete a\r\n");
    }

    [Test]
    public async Task Section3_9_read_timeout_is_a_failed_attempt()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject(FakeMemcached.NoReply);
        var t = rig.Open("C", "timeout = 1", "max_try = 1");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.InRange(0.9, 1.9));
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.NotFound), "the next command uses a new connection");
        rig.AssertTraffic("get k\r\n", "get k\r\n");
    }

    [Test]
    public async Task Section3_9_caller_cancellation_propagates()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject(FakeMemcached.NoReply);
        var t = rig.Open("C", "timeout = 0");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        Assert.That(async () => await t.LookupAsync("k", cts.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task Section3_9_connect_failure_for_unusable_port_ends_the_loop()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("C", "memcache = inet:myhost", "max_try = 3");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.LessThan(0.9));
        Assert.That(rig.Logs.Warnings, Has.Count.EqualTo(1).And.Some.StartsWith("connect to localhost:myhost: "));
    }

    [Test]
    public async Task Section3_9_concurrent_operations_use_connections_exclusively()
    {
        await using var rig = new VectorRig(Backend.Real);
        for (int i = 0; i < 20; i++) rig.Seed($"k{i}", new string((char)('a' + i), 100 + i));
        var t = rig.Open("C");
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => t.LookupAsync($"k{i}").AsTask()));
        for (int i = 0; i < 20; i++)
            Assert.That(results[i], Is.EqualTo(LookupResult.Found(new string((char)('a' + i), 100 + i))));
    }

    [Test]
    public async Task Section3_1_unix_socket_endpoint()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mc-{Guid.NewGuid():N}.sock");
        using var mc = Process.Start(new ProcessStartInfo("memcached", $"-s {path} -u root -m 8")
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        try
        {
            for (int i = 0; i < 100 && !File.Exists(path); i++) await Task.Delay(20);
            await using var rig = new VectorRig(Backend.Fake);
            var t = rig.Open("C", $"memcache = unix:{path}");
            Assert.That(await t.UpdateAsync("K", "v"), Is.EqualTo(UpdateResult.Success));
            Assert.That(await t.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
            rig.AssertTraffic();
        }
        finally
        {
            mc.Kill();
            await mc.WaitForExitAsync();
            File.Delete(path);
        }
    }

    [Test]
    public async Task Section3_3_fold_keys_no_keeps_the_key_for_memcached_and_backup()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("B", "fold_keys = no");
        Assert.That(await t.LookupAsync("User@Example.com"), Is.EqualTo(LookupResult.NotFound));
        rig.AssertTraffic("get aliases:User@Example.com\r\n");
        Assert.That(rig.Backup.Requests, Is.EqualTo(new[] { "lookup User@Example.com" }));
    }

    [Test]
    public async Task Section3_5_update_value_is_cut_at_nul_and_backup_gets_folded_key()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("B");
        Assert.That(await t.UpdateAsync("User@Example.com", "ab\0cd"), Is.EqualTo(UpdateResult.Success));
        rig.AssertTraffic("set aliases:user@example.com 7 600 2\r\nab\r\n");
        Assert.That(rig.Backup.Requests, Is.EqualTo(new[] { "update user@example.com" }));
    }
}
