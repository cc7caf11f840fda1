using TcpTableServer.Caching;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// The answering tier carried in every lookup result (metrics and <c>query --explain</c> read
/// it): memcached, the backup after a miss (spec 3.4, V13/V14), the key skipped by key
/// preparation (domain filter, V19), an error (memcached down, no backup: V17), the L1 cache.
/// Against a real memcached. Equality of results stays the answer's alone.
/// </summary>
public sealed class AnswerTierTests
{
    private MemcachedProcess mc = null!;

    [OneTimeSetUp]
    public void StartMemcached() => mc = MemcachedProcess.Start();

    [OneTimeTearDown]
    public void StopMemcached() => mc.Dispose();

    private static MemcacheTable Open(string memcache, params (string Name, string Value)[] extra)
    {
        var parameters = new Dictionary<string, ConfigValue>(StringComparer.Ordinal)
        {
            ["memcache"] = new("memcache", memcache, "tier.cf", 1),
            ["timeout"] = new("timeout", "1", "tier.cf", 2),
            ["max_try"] = new("max_try", "1", "tier.cf", 3),
        };
        int line = 4;
        foreach (var (name, value) in extra) parameters[name] = new(name, value, "tier.cf", line++);
        var loggers = new ListLogger();
        return MemcacheTable.Open("tier", parameters, new TableFactory(loggers), Path.GetTempPath(), loggers);
    }

    [Test]
    public async Task Memcached_hit_then_backup_after_a_miss_then_memcached_after_the_write_back()
    {
        mc.FlushAll();
        await using var table = Open(mc.Endpoint, ("backup", "inline:{ {b@example.com = from-backup} }"));
        mc.Set("m@example.com", "from-memcached");

        var hit = await table.LookupAsync("m@example.com");
        Assert.That((hit.Status, hit.Value, hit.Tier), Is.EqualTo((LookupStatus.Found, "from-memcached", AnswerTier.Memcached)));

        var fromBackup = await table.LookupAsync("b@example.com");
        Assert.That((fromBackup.Value, fromBackup.Tier), Is.EqualTo(("from-backup", AnswerTier.Backup)));
        var refilled = await table.LookupAsync("b@example.com");
        Assert.That((refilled.Value, refilled.Tier), Is.EqualTo(("from-backup", AnswerTier.Memcached)), "V14: written back, then memcached answers");

        var nowhere = await table.LookupAsync("none@example.com");
        Assert.That((nowhere.Status, nowhere.Tier), Is.EqualTo((LookupStatus.NotFound, AnswerTier.Backup)), "a miss asked the backup last");
    }

    [Test]
    public async Task Miss_without_backup_is_memcached_skip_is_skipped_down_is_error()
    {
        mc.FlushAll();
        await using var table = Open(mc.Endpoint, ("domain", "example.com"));
        Assert.That((await table.LookupAsync("x@example.com")).Tier, Is.EqualTo(AnswerTier.Memcached));
        var skipped = await table.LookupAsync("x@example.org");
        Assert.That((skipped.Status, skipped.Tier), Is.EqualTo((LookupStatus.NotFound, AnswerTier.Skipped)), "V19: domain filter");

        await using var down = Open($"inet:127.0.0.1:{FreePort.Closed()}");
        var failed = await down.LookupAsync("x@example.com");
        Assert.That((failed.Status, failed.Tier), Is.EqualTo((LookupStatus.TempError, AnswerTier.Error)), "V17");
    }

    [Test]
    public async Task L1_hit_says_L1_and_equals_the_memcached_answer()
    {
        mc.FlushAll();
        mc.Set("l@example.com", "v");
        var inner = Open(mc.Endpoint);
        await using var table = new CachedTable(inner, new L1Options(TimeSpan.FromMinutes(1), 100, TimeSpan.Zero), foldKeys: true);
        var first = await table.LookupAsync("l@example.com");
        var second = await table.LookupAsync("l@example.com");
        Assert.That((first.Tier, second.Tier), Is.EqualTo((AnswerTier.Memcached, AnswerTier.L1)));
        Assert.That(second, Is.EqualTo(first), "equality is the answer's, not the tier's");
        Assert.That(second, Is.EqualTo(LookupResult.Found("v")));
    }
}
