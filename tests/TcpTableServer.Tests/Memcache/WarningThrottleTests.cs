using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// Log storms: each warning of spec 3.10 that can repeat per request is rate limited per map
/// and cause (first occurrence in full, then one summary per <c>warning_interval</c> with a
/// count), and no warning shows a key; the key goes to a debug line.
/// </summary>
public class WarningThrottleTests
{
    private const int Lookups = 1000;

    private static string Key(int i) => $"secret-user{i}@example.com";

    private static void AssertNoKeyAbove_debug(ListLogger logs)
    {
        foreach (var (level, message) in logs.Entries.Where(e => e.Level > LogLevel.Debug))
            Assert.That(message, Does.Not.Contain("secret-user"), "a key above debug level");
    }

    /// <summary>
    /// V17 x 1000: memcached down, no backup. Postfix logs "connect to ...: Connection refused"
    /// per lookup (1000 lines; the server under load wrote 18 000-37 000 lines per second);
    /// here the first in full and the rest in one summary line.
    /// </summary>
    [Test]
    public async Task V17_memcached_down_1000_lookups_log_one_warning_and_one_summary()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("K", "warning_interval = 10");
        var results = await Task.WhenAll(Enumerable.Range(0, Lookups).Select(i => t.LookupAsync(Key(i)).AsTask()));
        Assert.That(results, Is.All.EqualTo(LookupResult.TempError));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { $"connect to {rig.Down}: Connection refused" }),
            "the first occurrence as Postfix writes it; the rest counted");
        await t.DisposeAsync();   // ends the window: the summary
        Assert.That(rig.Logs.Warnings, Has.Count.EqualTo(2));
        Assert.That(rig.Logs.Warnings[1], Does.Match(@"^memcache:/etc/postfix/down\.cf: memcached connect failures: 999 more in the last 10 s$"));
        AssertNoKeyAbove_debug(rig.Logs);
    }

    /// <summary>V18 x 1000: memcached down, backup hit: two connect failures per lookup (get, refill), one cause.</summary>
    [Test]
    public async Task V18_memcached_down_with_backup_1000_lookups_log_one_warning_and_one_summary()
    {
        await using var rig = new VectorRig(Backend.Fake);
        for (int i = 0; i < Lookups; i++) await rig.Backup.UpdateAsync(Key(i), "v");
        var t = rig.Open("K2", "warning_interval = 10");
        var results = await Task.WhenAll(Enumerable.Range(0, Lookups).Select(i => t.LookupAsync(Key(i)).AsTask()));
        Assert.That(results, Is.All.EqualTo(LookupResult.Found("v")));
        await t.DisposeAsync();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
        {
            $"connect to {rig.Down}: Connection refused",
            "memcache:/etc/postfix/downbk.cf: memcached connect failures: 1999 more in the last 10 s",
        }));
        AssertNoKeyAbove_debug(rig.Logs);
    }

    /// <summary>A storm that lasts several windows costs one line per window: 2.5 s with a 1 s interval.</summary>
    [Test]
    public async Task V17_memcached_down_for_several_windows_logs_one_summary_per_window()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("K", "warning_interval = 1");
        var until = DateTime.UtcNow.AddSeconds(2.5);
        int n = 0;
        while (DateTime.UtcNow < until)
        {
            Assert.That(await t.LookupAsync(Key(n++)), Is.EqualTo(LookupResult.TempError));
            await Task.Delay(2);
        }
        await t.DisposeAsync();
        Assert.That(n, Is.GreaterThan(100));
        Assert.That(rig.Logs.Warnings, Has.Count.InRange(2, 5), () => string.Join("\n", rig.Logs.Warnings));
        Assert.That(rig.Logs.Warnings.Skip(1), Is.All.Contains("memcached connect failures:"));
        AssertNoKeyAbove_debug(rig.Logs);
    }

    /// <summary>
    /// V77 x 1000: updates skipped by the domain filter. Postfix writes one warning per update
    /// with the key in it ("skipping update for name ..."); here one without the key, one
    /// summary, and a debug line per update with the key.
    /// </summary>
    [Test]
    public async Task V77_1000_skipped_updates_one_warning_without_key_and_one_summary()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("D2", "warning_interval = 10");
        for (int i = 0; i < Lookups; i++)
            Assert.That(await t.UpdateAsync($"secret-user{i}@other.org", "v"), Is.EqualTo(UpdateResult.Fail));
        await t.DisposeAsync();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
        {
            "/etc/postfix/dombk.cf: skipping update: domain mismatch",
            "memcache:/etc/postfix/dombk.cf: skipped updates: 999 more in the last 10 s",
        }));
        Assert.That(rig.Logs.Entries.Count(e => e.Level == LogLevel.Debug && e.Message.Contains("secret-user")), Is.EqualTo(Lookups));
        AssertNoKeyAbove_debug(rig.Logs);
    }

    /// <summary>V23/V78 x 1000: values too long to store: the key is not in the warning (Postfix: "data for key K ...").</summary>
    [Test]
    public async Task V78_1000_values_too_long_one_warning_without_key_and_one_summary()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("I0", "warning_interval = 10");
        for (int i = 0; i < Lookups; i++)
            Assert.That(await t.UpdateAsync(Key(i), "123456"), Is.EqualTo(UpdateResult.Fail));
        await t.DisposeAsync();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
        {
            "database memcache:/etc/postfix/small0.cf: data is too long (data_size_limit=5) -- not stored",
            "memcache:/etc/postfix/small0.cf: values too long to store: 999 more in the last 10 s",
        }));
        AssertNoKeyAbove_debug(rig.Logs);
    }

    /// <summary>Spec 3.10 domain-list table error x 1000 (config U): one warning, one summary.</summary>
    [Test]
    public async Task Section3_10_domain_table_lookup_problem_1000_times_one_warning_and_one_summary()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("U", "warning_interval = 10");
        for (int i = 0; i < Lookups; i++)
            Assert.That((await t.LookupAsync(Key(i))).IsError, Is.True);
        await t.DisposeAsync();
        Assert.That(rig.Logs.Warnings, Has.Count.EqualTo(2), () => string.Join("\n", rig.Logs.Warnings));
        Assert.That(rig.Logs.Warnings[0], Does.EndWith(": table lookup problem"));
        Assert.That(rig.Logs.Warnings[1], Does.EndWith("domain table lookup problems: 999 more in the last 10 s"));
        AssertNoKeyAbove_debug(rig.Logs);
    }
}
