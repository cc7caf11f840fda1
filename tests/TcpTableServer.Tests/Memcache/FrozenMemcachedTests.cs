using System.Diagnostics;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// Deadlines that hold (spec 3.9): a real memcached frozen with SIGSTOP accepts connections
/// (the kernel does) and never answers. Every lookup must still be answered within Postfix's
/// own bound, timeout x max_try + retry_pause x (max_try - 1), plus the backup's time: requests
/// queued behind a frozen head are not replayed past it, and the write-back after a backup
/// hit does not wait a second round of timeouts, and the log says so once, not per lookup.
/// After SIGCONT the next lookup is fast.
/// Settings: timeout 1, max_try 2, retry_pause 1: bound 3 s; slack 0.75 s for the timeout
/// sweep (a quarter second) and a loaded machine.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class FrozenMemcachedTests
{
    private const double BoundSeconds = 3.0, Slack = 0.75;

    private static MemcacheTable Open(MemcachedProcess mc, string? backup, ListLogger logs) =>
        MemcacheTable.Open("frozen", Cf.Params([
            $"memcache = {mc.Endpoint}", "timeout = 1", "max_try = 2", "retry_pause = 1",
            .. backup is null ? Array.Empty<string>() : [$"backup = {backup}"]]),
            new TableFactory(logs), "/tmp", logs);

    /// <summary>MemcacheTable's line about write-backs after backup hits sent without waiting (or skipped).</summary>
    private static int StalledLines(ListLogger logs) =>
        logs.Entries.Count(e => e.Message.Contains("memcached is stalled: write-backs after backup hits go out without holding the reply"));

    /// <summary>64 concurrent lookups of distinct keys; the slowest reply's time.</summary>
    private static async Task<(double Slowest, LookupResult[] Results)> Burst(MemcacheTable table)
    {
        var watch = Stopwatch.StartNew();
        var times = new double[64];
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
        {
            var r = await table.LookupAsync($"k{i}");
            times[i] = watch.Elapsed.TotalSeconds;
            return r;
        }));
        return (times.Max(), results);
    }

    [Test]
    public async Task With_backup_every_lookup_is_answered_from_the_backup_within_the_bound()
    {
        using var mc = MemcachedProcess.Start();
        var logs = new ListLogger();
        string inline = "inline:{" + string.Join(", ", Enumerable.Range(0, 64).Select(i => $"k{i}=v{i}")) + "}";
        await using var table = Open(mc, inline, logs);
        Assert.That(await table.LookupAsync("k0"), Is.EqualTo(LookupResult.Found("v0")), "warm: connection open");
        Assert.That(StalledLines(logs), Is.Zero, "memcached answers: write-backs wait for their reply");

        using (mc.Freeze())
        {
            var (slowest, results) = await Burst(table);
            Assert.That(results.Select((r, i) => r == LookupResult.Found($"v{i}")), Is.All.True);
            Assert.That(slowest, Is.LessThanOrEqualTo(BoundSeconds + Slack),
                "frozen memcached: before, the write-back after the backup hit waited two more timeouts and a pause");
            // Every one of the 64 backup hits found memcached stalled (answered within the bound,
            // so none held its reply for its write-back): the log says so once, not per lookup
            // (LogThrottle: the rest are counted for a summary when the 10 s window ends).
            Assert.That(StalledLines(logs), Is.EqualTo(1), "one line for 64 stalled write-backs");
        }

        var again = Stopwatch.StartNew();
        Assert.That(await table.LookupAsync("k1"), Is.EqualTo(LookupResult.Found("v1")));
        Assert.That(again.Elapsed.TotalSeconds, Is.LessThan(1.0), "recovery after SIGCONT");
    }

    [Test]
    public async Task Without_backup_every_lookup_gets_a_temporary_error_within_the_bound()
    {
        using var mc = MemcachedProcess.Start();
        var logs = new ListLogger();
        await using var table = Open(mc, null, logs);
        mc.Set("k0", "v0");
        Assert.That(await table.LookupAsync("k0"), Is.EqualTo(LookupResult.Found("v0")));

        using (mc.Freeze())
        {
            var (slowest, results) = await Burst(table);
            Assert.That(results, Is.All.EqualTo(LookupResult.TempError));
            Assert.That(slowest, Is.LessThanOrEqualTo(BoundSeconds + Slack), "requests behind a frozen head must not be replayed past the bound");
        }

        var again = Stopwatch.StartNew();
        Assert.That(await table.LookupAsync("k0"), Is.EqualTo(LookupResult.Found("v0")));
        Assert.That(again.Elapsed.TotalSeconds, Is.LessThan(1.0), "recovery after SIGCONT");
    }
}
