using System.Diagnostics;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Protocols;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// A map's optional deadline: a lookup not answered within it gets a temporary error (TEMP /
/// 400, spec 2.6: Postfix treats TEMP and TIMEOUT alike) instead of waiting for the table,
/// so the reply comes before Postfix's own client timeout; prompt answers pass unchanged.
/// </summary>
public class DeadlineTableTests
{
    [Test]
    public async Task A_lookup_past_the_deadline_is_a_temporary_error_at_the_deadline()
    {
        var inner = new TableDouble().With("k", "v");
        inner.Gate = new TaskCompletionSource();          // the table never answers
        var logs = new ListLogger();
        await using var table = new DeadlineTable(inner, TimeSpan.FromMilliseconds(300), logs);
        var watch = Stopwatch.StartNew();
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(watch.Elapsed.TotalSeconds, Is.InRange(0.25, 2.0));
        Assert.That(logs.Warnings.Single(), Does.Contain("not answered within the deadline of 0.3 s"));
        inner.Gate.SetResult();
    }

    [Test]
    public async Task Answers_within_the_deadline_pass_unchanged()
    {
        var inner = new TableDouble().With("k", "v");
        inner.Delay = TimeSpan.FromMilliseconds(20);
        await using var table = new DeadlineTable(inner, TimeSpan.FromSeconds(5), new ListLogger());
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(await table.LookupAsync("x"), Is.EqualTo(LookupResult.NotFound));
    }

    /// <summary>
    /// A map with <c>deadline</c> in the INI file is opened behind the deadline (MapSet): with
    /// memcached holding its replies (memcache timeout 10 s), a lookup is a temporary error after
    /// the 1 s deadline, while an update through the same map waits past it for the held reply
    /// and reports success.
    /// </summary>
    [Test]
    public async Task A_map_with_a_deadline_bounds_lookups_but_not_updates()
    {
        await using var fake = new FakeMemcached();
        using var dir = new TempDir();
        using var logs = new ListLogger();
        dir.Write("m.cf", $"memcache = {fake.Endpoint}\ntimeout = 10\n");
        var ini = dir.Write("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n[maps:a]\nconfig = m.cf\ndeadline = 1s\n");
        await using var maps = MapSet.Open(ServerConfigLoader.Load(ini, logs), logs);
        var map = maps.Tables["a"];

        using var held = fake.HoldReplies();
        var watch = Stopwatch.StartNew();
        var lookup = map.LookupAsync("user@example.com").AsTask();
        var update = map.UpdateAsync("user@example.com", "v").AsTask();
        Assert.That(await lookup.WaitAsync(TimeSpan.FromSeconds(5)), Is.EqualTo(LookupResult.TempError));
        Assert.That(watch.Elapsed.TotalSeconds, Is.InRange(0.9, 5.0), "the lookup answered at the deadline");
        await Task.Delay(500);
        Assert.That(update.IsCompleted, Is.False, "the update still waits for memcached past the deadline");
        held.Dispose();
        Assert.That(await update.WaitAsync(TimeSpan.FromSeconds(5)), Is.EqualTo(UpdateResult.Success));
        Assert.That(fake.Get("user@example.com")?.Value, Is.EqualTo("v"));
    }
}
