using System.Diagnostics;
using System.Text.RegularExpressions;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Protocols;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// A map's optional deadline: a lookup not answered within it gets a temporary error
/// (socketmap <c>TIMEOUT deadline</c>, tcp <c>400</c>; spec 2.6: TIMEOUT may replace TEMP for a
/// backup timeout, Postfix treats both alike) instead of waiting for the table, so the reply
/// comes before Postfix's own client timeout; prompt answers pass unchanged.
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

    /// <summary>
    /// Spec 2.6 (TIMEOUT instead of TEMP for a timeout) through the real server binary: with a
    /// real memcached frozen by SIGSTOP (timeout 10 s, deadline 1 s), the socketmap reply is
    /// <c>16:TIMEOUT deadline,</c> and tcp keeps <c>400</c>. Postfix's own client (postmap -q,
    /// dict_sockmap) treats it as the temporary error it treats TEMP as (spec 2.4): the same
    /// exit, the same "query error", only the class in its warning differs. Fails if the
    /// deadline answered TEMP (the reply check) or if TIMEOUT were framed wrongly (postmap would
    /// report a malformed reply instead of a server error).
    /// </summary>
    [Test, Category("Interop")]
    public void Spec2_6_a_lookup_past_the_deadline_answers_socketmap_TIMEOUT_and_Postfix_takes_it_as_TEMP()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int socketmap = FreePort.Next(), tcp = FreePort.Next();
        d.File("slow.cf", $"memcache = {mc.Endpoint}\ntimeout = 10\nmax_try = 1\n");
        d.File("down.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nmax_try = 1\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{socketmap}\n\n" +
            $"[maps:slow]\nconfig = slow.cf\ndeadline = 1s\ntcp = inet:127.0.0.1:{tcp}\n\n" +
            "[maps:down]\nconfig = down.cf\n");
        using var server = ServerProcess.Serve(ini, socketmap, tcp);
        var postfix = new Postfix(d.Path);

        using (mc.Freeze())
        {
            var watch = Stopwatch.StartNew();
            Assert.That(RawSocket.Exchange(socketmap, "10:slow k@x.y,"), Is.EqualTo("16:TIMEOUT deadline,"));
            Assert.That(watch.Elapsed.TotalSeconds, Is.InRange(0.9, 5.0), "answered at the 1 s deadline, not after memcached's 10 s");
            Assert.That(RawSocket.Exchange(tcp, "get k@x.y\n"), Does.StartWith("400 "), "tcp keeps 400");
            Assert.That(RawSocket.Exchange(socketmap, "10:down k@x.y,"), Is.EqualTo("22:TEMP temporary-failure,"), "a table's own temporary error stays TEMP");

            if (!Postfix.Installed) Assert.Ignore("postmap is not installed: the wire replies were checked");
            var timeout = postfix.Query("k@x.y", $"socketmap:inet:127.0.0.1:{socketmap}:slow");
            var temp = postfix.Query("k@x.y", $"socketmap:inet:127.0.0.1:{socketmap}:down");
            TestContext.Out.WriteLine($"TIMEOUT: exit {timeout.ExitCode}: {timeout.Stderr}\nTEMP: exit {temp.ExitCode}: {temp.Stderr}");
            Assert.That(timeout.Stderr, Does.Contain("socketmap server timeout error: deadline"));
            Assert.That(temp.Stderr, Does.Contain("socketmap server temporary error: temporary-failure"));
            Assert.That((timeout.ExitCode, timeout.Stdout, LastLine(timeout.Stderr, "slow")),
                Is.EqualTo((temp.ExitCode, temp.Stdout, LastLine(temp.Stderr, "down"))),
                "postmap ends both the same way: fatal ... query error");
            Assert.That(LastLine(timeout.Stderr, "slow"), Does.Contain("query error"));
        }
    }

    /// <summary>postmap's last stderr line with the map name and the process id made neutral.</summary>
    private static string LastLine(string stderr, string map) =>
        Regex.Replace(stderr.TrimEnd('\n').Split('\n')[^1], @"postmap\[\d+\]", "postmap[N]").Replace(":" + map, ":MAP");
}
