using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Reload on SIGHUP, against the real server process and a real memcached: open connections
/// see the new configuration from their next request, a broken configuration changes
/// nothing (file, line and parameter in the log), listeners are added and removed without
/// touching the others (a removed one answers the request in flight before closing), an
/// unchanged map keeps its L1 while a changed one starts empty, an lmdb backup kept across a
/// reload stays one open instance while puts run, and a loaded server loses no request over
/// repeated reloads.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class ReloadTests
{
    private MemcachedProcess mc = null!;

    [OneTimeSetUp]
    public void StartMemcached() => mc = MemcachedProcess.Start();

    [OneTimeTearDown]
    public void StopMemcached() => mc.Dispose();

    [SetUp]
    public void Flush() => mc.FlushAll();

    private static string Cf(string memcache, string backup, string keyFormat) =>
        $"memcache = {memcache}\nbackup = {backup}\nkey_format = {keyFormat}\nwarning_interval = 0\n";

    [Test]
    public void Sighup_new_answers_on_open_connections_then_a_broken_cf_keeps_the_old_ones_and_names_file_and_line()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        d.File("backup", "user@example.com one\n");
        string cf = d.File("a.cf", Cf(mc.Endpoint, "texthash:" + d["backup"], "first-%s"));
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        using var server = ServerProcess.Serve(ini, sm, tcp);
        using var socketmap = new SocketmapClient(sm);
        using var line = new TcpLineClient(tcp);
        Assert.That(socketmap.Lookup("a", "user@example.com"), Is.EqualTo("OK one"));
        Assert.That(line.Get("user@example.com"), Is.EqualTo("200 one"));
        Assert.That(mc.Get("first-user@example.com")?.Value, Is.EqualTo("one"), "written back under the first key_format");

        // The backup's value and the key_format change: the old memcached entry is not seen any more.
        d.File("backup", "user@example.com two\n");
        File.WriteAllText(cf, Cf(mc.Endpoint, "texthash:" + d["backup"], "second-%s"));
        server.Hangup();
        Assert.That(server.WaitForOutput("reloaded: configuration active: generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(socketmap.Lookup("a", "user@example.com"), Is.EqualTo("OK two"), "same socketmap connection, new answer");
        Assert.That(line.Get("user@example.com"), Is.EqualTo("200 two"), "same tcp connection, new answer");
        Assert.That(mc.Get("second-user@example.com")?.Value, Is.EqualTo("two"));

        // A broken .cf: line 3 is no parameter. Nothing changes, the log names file and line.
        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nbackup = texthash:{d["backup"]}\nthis line is broken\n");
        d.File("backup", "user@example.com three\n");
        server.Hangup();
        Assert.That(server.WaitForOutput("reload failed"), Is.True, server.Stderr + server.Stdout);
        string log = server.Stderr + server.Stdout;
        Assert.That(log, Does.Contain($"{cf}:3"), "file and line of the broken parameter");
        Assert.That(log, Does.Contain("nothing changed, still active: generation 2"));
        Assert.That(socketmap.Lookup("a", "user@example.com"), Is.EqualTo("OK two"), "the old configuration keeps serving");
        Assert.That(line.Get("user@example.com"), Is.EqualTo("200 two"));
        Assert.That(server.HasExited, Is.False);
    }

    /// <summary>
    /// A bad parameter value in a .cf on reload (spec 3.11, Postfix's "bad numerical
    /// configuration"): the reload fails, the log line names file, line and parameter, and the
    /// old configuration keeps answering on the open connection.
    /// </summary>
    [Test]
    public void Sighup_with_a_bad_parameter_value_names_file_line_and_parameter_and_keeps_the_old_answers()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        string cf = d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = one}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.Serve(ini, sm);
        using var socketmap = new SocketmapClient(sm);
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK one"));

        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = two}} }}\nmax_try = x\n");
        mc.FlushAll();   // an answer of "one" now comes from the old map's backup, not from memcached
        server.Hangup();
        Assert.That(server.WaitForOutput("reload failed"), Is.True, server.Stderr + server.Stdout);
        string log = server.Stderr + server.Stdout;
        var failure = log.Split('\n').FirstOrDefault(l => l.Contains("reload failed"));
        Assert.That(failure, Does.Contain($"{cf}:3:").And.Contain("max_try"), "file:line and the parameter on the failure line\n" + log);
        Assert.That(log, Does.Contain("nothing changed, still active: generation 1"));
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK one"), "the old map keeps answering on the open connection");
        Assert.That(server.HasExited, Is.False);
    }

    /// <summary>
    /// A reload keeps the L1 cache of a map whose fingerprint is unchanged and drops it with a
    /// map that is reopened: both maps have an L1 (l1_ttl), each answer sits in it, memcached's
    /// values are changed behind the server's back, then only a.cf is edited (a parameter that
    /// does not change the memcached key). On the same connection map a answers memcached's new
    /// value, map b still the value its L1 held.
    /// </summary>
    [Test]
    public void Sighup_drops_the_L1_of_a_changed_map_and_keeps_the_L1_of_an_unchanged_one()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        string cf = d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = a-%s\n");
        d.File("b.cf", $"memcache = {mc.Endpoint}\nkey_format = b-%s\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\nl1_ttl = 300\n[maps:b]\nconfig = b.cf\nl1_ttl = 300\n");
        mc.Set("a-k", "old-a");
        mc.Set("b-k", "old-b");
        using var server = ServerProcess.Serve(ini, sm);
        using var socketmap = new SocketmapClient(sm);
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK old-a"));
        Assert.That(socketmap.Lookup("b", "k"), Is.EqualTo("OK old-b"));

        mc.Set("a-k", "new-a");
        mc.Set("b-k", "new-b");
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK old-a"), "answered from L1 before the reload");
        Assert.That(socketmap.Lookup("b", "k"), Is.EqualTo("OK old-b"), "answered from L1 before the reload");

        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nkey_format = a-%s\ntimeout = 3\n");
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK new-a"), "the reopened map starts with an empty L1");
        Assert.That(socketmap.Lookup("b", "k"), Is.EqualTo("OK old-b"), "the unchanged map kept its L1 entry");
        Assert.That(mc.Get("b-k")?.Value, Is.EqualTo("new-b"), "memcached holds the new value: old-b can only come from L1");
        Assert.That(server.Stderr + server.Stdout, Does.Contain("maps opened: a; unchanged: b"));
    }

    /// <summary>
    /// A tcp listener removed by a reload answers the request already in flight on its open
    /// connection, then closes it (the close waits for answers in flight up to shutdown_timeout). memcached is stopped (SIGSTOP) so that the
    /// lookup waits; the test waits until the request has reached memcached's socket (the
    /// server read it and is waiting for the reply), reloads, waits until the listener no
    /// longer accepts (its close has begun), then resumes memcached: the reply arrives, then EOF.
    /// </summary>
    [Test]
    public void A_listener_removed_by_a_reload_answers_the_request_in_flight_before_closing()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = a-%s\ntimeout = 30\n");
        string Ini(bool withTcp) => $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nshutdown_timeout = 30\n[maps:a]\nconfig = a.cf\n"
            + (withTcp ? $"tcp = inet:127.0.0.1:{tcp}\n" : "");
        string ini = d.File("server.ini", Ini(withTcp: true));
        mc.Set("a-k", "v");
        using var server = ServerProcess.Serve(ini, sm, tcp);
        using var line = new TcpLineClient(tcp, timeoutMs: 30000);
        Assert.That(line.Get("k"), Is.EqualTo("200 v"), "warm: the server's memcached connections are open");

        // Freeze returns once every memcached thread has stopped: one still running would
        // read the lookup and answer it at once.
        using (var frozen = mc.Freeze())
        {
            var inFlight = Task.Run(() => line.Get("k"));
            Assert.That(() => QueuedTo(mc.Port) > 0, Is.True.After(20_000, 20), "the lookup reached memcached's socket");

            d.File("server.ini", Ini(withTcp: false));
            server.Hangup();
            Assert.That(() => !Connects(tcp), Is.True.After(20_000, 20), "the removed listener stopped accepting");
            Assert.That(inFlight.IsCompleted, Is.False, "the connection was not closed under the request");

            frozen.Resume();
            Assert.That(inFlight.Wait(TimeSpan.FromSeconds(30)), Is.True);
            Assert.That(inFlight.Result, Is.EqualTo("200 v"), "the request in flight was answered");
        }
        Assert.That(line.Get("k"), Is.Null, "then the connection was closed");
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(server.Stderr + server.Stdout, Does.Contain($"closed: tcp inet:127.0.0.1:{tcp}"));
    }

    /// <summary>Bytes waiting unread in the receive queues of the established connections to local port <paramref name="port"/> (/proc/net/tcp).</summary>
    private static long QueuedTo(int port)
    {
        long queued = 0;
        foreach (string row in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = row.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            int local = Convert.ToInt32(f[1][(f[1].IndexOf(':') + 1)..], 16);
            if (local == port && f[3] == "01") queued += Convert.ToInt64(f[4][(f[4].IndexOf(':') + 1)..], 16);
        }
        return queued;
    }

    [Test]
    public void Sighup_adds_and_removes_listeners_and_maps_without_touching_the_others()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcpA = FreePort.Next(), tcpB = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = a-value}} }}\n");
        d.File("b.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = b-value}} }}\nkey_format = b-%s\n");
        string Ini(bool withB) => $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcpA}\n"
            + (withB ? $"[maps:b]\nconfig = b.cf\ntcp = inet:127.0.0.1:{tcpB}\n" : "");
        string ini = d.File("server.ini", Ini(withB: false));
        using var server = ServerProcess.Serve(ini, sm, tcpA);
        using var socketmap = new SocketmapClient(sm);
        using var lineA = new TcpLineClient(tcpA);
        Assert.That(socketmap.Lookup("b", "k"), Does.StartWith("PERM"), "no map b yet");

        d.File("server.ini", Ini(withB: true));
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(socketmap.Lookup("b", "k"), Is.EqualTo("OK b-value"), "map added, seen on the open connection");
        using var lineB = new TcpLineClient(tcpB);
        Assert.That(lineB.Get("k"), Is.EqualTo("200 b-value"), "listener added");
        Assert.That(lineA.Get("k"), Is.EqualTo("200 a-value"), "the unchanged listener kept its connection");
        Assert.That(server.Stderr + server.Stdout, Does.Contain("maps opened: b; unchanged: a"), "map a was taken over, not reopened");

        d.File("server.ini", Ini(withB: false));
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 3"), Is.True, server.Stderr + server.Stdout);
        Assert.That(socketmap.Lookup("b", "k"), Does.StartWith("PERM"), "map removed");
        Assert.That(Connects(tcpB), Is.False, "listener removed");
        Assert.That(lineB.Get("k"), Is.Null, "the removed listener's open connection was closed");
        Assert.That(lineA.Get("k"), Is.EqualTo("200 a-value"));
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK a-value"));
    }

    /// <summary>
    /// A tcp listener's address handed from one map to another: the listener is reopened for
    /// the new map (kept as it was, it would go on asking the map it was opened for).
    /// </summary>
    [Test]
    public void A_tcp_address_moved_to_another_map_serves_that_map()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = a-value}} }}\n");
        d.File("b.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = b-value}} }}\nkey_format = b-%s\n");
        string Ini(string owner) => $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n"
            + (owner == "a" ? $"tcp = inet:127.0.0.1:{tcp}\n" : "") + "[maps:b]\nconfig = b.cf\n"
            + (owner == "b" ? $"tcp = inet:127.0.0.1:{tcp}\n" : "");
        string ini = d.File("server.ini", Ini("a"));
        using var server = ServerProcess.Serve(ini, sm, tcp);
        using (var line = new TcpLineClient(tcp))
            Assert.That(line.Get("k"), Is.EqualTo("200 a-value"));

        d.File("server.ini", Ini("b"));
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(server.Stderr + server.Stdout, Does.Contain($"listeners opened: tcp inet:127.0.0.1:{tcp}; closed: tcp inet:127.0.0.1:{tcp}"));
        using (var line = new TcpLineClient(tcp))
            Assert.That(line.Get("k"), Is.EqualTo("200 b-value"), "the address now serves map b");
    }

    /// <summary>
    /// A map is kept over a reload only when nothing it reads at open changed: an edit of only
    /// the sqlite .cf its backup names (the query), or of only the .cf of the nested memcache
    /// map it chains to (that map's backup), reopens the map, which then answers as the edited
    /// file says. (memcached is flushed after the reload so that the answer comes from the
    /// backup, not from the entry the first lookup wrote back.)
    /// </summary>
    [TestCase("sqlite")]
    [TestCase("memcache")]
    public void An_edit_of_only_the_cf_a_backup_reads_at_open_reopens_the_map(string backup)
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        using (var lite = new SqliteConnection($"Data Source={d.File("a.db")};Pooling=False"))
        {
            lite.Open();
            new SqliteCommand("CREATE TABLE a (k text, v text); INSERT INTO a VALUES ('k', 'one');", lite).ExecuteNonQuery();
        }
        string LiteCf(string select) => $"dbpath = {d.File("a.db")}\nquery = SELECT {select} FROM a WHERE k='%s'\n";
        string NestedCf(string value) => Cf(mc.Endpoint, $"inline:{{ {{k = {value}}} }}", "n-%s");
        d.File("lite.cf", LiteCf("v"));
        d.File("nested.cf", NestedCf("one"));
        d.File("a.cf", Cf(mc.Endpoint, backup == "sqlite" ? "sqlite:lite.cf" : "memcache:nested.cf", "a-%s"));
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.Serve(ini, sm);
        using var socketmap = new SocketmapClient(sm);
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK one"));

        if (backup == "sqlite") d.File("lite.cf", LiteCf("v || '-edited'"));
        else d.File("nested.cf", NestedCf("one-edited"));
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        mc.FlushAll();
        Assert.That(socketmap.Lookup("a", "k"), Is.EqualTo("OK one-edited"), "the map was reopened with the edited file");
    }

    /// <summary>
    /// The lmdb backup is kept and the key_format changes: the reloaded map shares the one open
    /// lmdb instance (the process holds as many descriptors on the file as before: a second
    /// instance would add its own, and two MDB_NOLOCK environments corrupt the file), while tcp puts run
    /// through the reload, every one acknowledged and found afterwards.
    /// </summary>
    [Test]
    public void Reload_keeping_an_lmdb_backup_shares_the_open_instance_while_puts_run()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        string db = d["routes"];
        string cf = d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = lmdb:{db}\nkey_format = one-%s\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\nbackup_create = yes\ntcp = inet:127.0.0.1:{tcp}\nallow_put = yes\n");
        using var server = ServerProcess.Serve(ini, sm, tcp);
        // The descriptors the open instance holds on the file. A reload opens the new maps
        // before the old ones close, so a second instance would hold other descriptor numbers.
        var descriptors = OpenDescriptors(server.Pid, db + ".lmdb");
        Assert.That(descriptors, Is.Not.Empty);

        var acknowledged = new ConcurrentBag<string>();
        var bad = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            using var c = new TcpLineClient(tcp);
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                string key = $"w{w}-{i}@example.com";
                string? reply = c.Put(key, $"v{i}");
                if (reply == "200 OK" || reply?.StartsWith("200 ") == true) acknowledged.Add(key);
                else bad.Add($"{key}: {reply ?? "connection broken"}");
            }
        })).ToArray();

        Thread.Sleep(300);
        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nbackup = lmdb:{db}\nkey_format = two-%s\n");
        server.Hangup();
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(OpenDescriptors(server.Pid, db + ".lmdb"), Is.EqualTo(descriptors), "the same open instance after the reload");
        Thread.Sleep(300);
        stop.Cancel();
        Task.WaitAll(writers);

        Assert.That(bad, Is.Empty);
        Assert.That(acknowledged.Count, Is.GreaterThan(20));
        Assert.That(server.Stderr + server.Stdout, Does.Contain("maps opened: a;"), "the key_format change reopened the map");
        mc.FlushAll();   // every answer from the lmdb file now
        using var check = new SocketmapClient(sm);
        foreach (string key in acknowledged)
            Assert.That(check.Lookup("a", key), Does.StartWith("OK v"), key);
    }

    /// <summary>
    /// 64 connections looking up without pause while the configuration is reloaded 10 times
    /// (the backup's value alternates): no request is lost, no reply is an error, every
    /// answer is one of the two values. Prints the figure docs/benchmarks.md quotes.
    /// </summary>
    [Test]
    public void Sixty_four_connections_through_ten_reloads_lose_nothing()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        d.File("backup", "user@example.com even\n");
        string cf = d.File("a.cf", Cf(mc.Endpoint, "texthash:" + d["backup"], "g0-%s"));
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.Serve(ini, sm);

        long answered = 0;
        var wrong = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 64).Select(_ => Task.Factory.StartNew(() =>
        {
            using var c = new SocketmapClient(sm);
            while (!stop.IsCancellationRequested)
            {
                string? reply = c.Lookup("a", "user@example.com");
                if (reply is "OK even" or "OK odd") Interlocked.Increment(ref answered);
                else wrong.Add(reply ?? "connection broken");
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        var clock = Stopwatch.StartNew();
        for (int generation = 1; generation <= 10; generation++)
        {
            Thread.Sleep(200);
            d.File("backup", $"user@example.com {(generation % 2 == 0 ? "even" : "odd")}\n");
            File.WriteAllText(cf, Cf(mc.Endpoint, "texthash:" + d["backup"], $"g{generation}-%s"));
            server.Hangup();
            Assert.That(server.WaitForOutput($"generation {generation + 1},"), Is.True, server.Stderr + server.Stdout);
        }
        Thread.Sleep(200);
        stop.Cancel();
        Task.WaitAll(clients);
        clock.Stop();
        TestContext.Out.WriteLine($"64 connections, 10 reloads in {clock.Elapsed.TotalSeconds:F1} s: {answered} answers, {wrong.Count} errors or lost requests");
        Assert.That(wrong, Is.Empty);
        Assert.That(answered, Is.GreaterThan(640));
        Assert.That(server.Stderr + server.Stdout, Does.Not.Contain("reload failed"));
    }

    [Test]
    public void Reload_command_checks_first_then_signals_the_server_running_on_that_ini()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        string cf = d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = one}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.Serve(ini, sm);
        using var client = new SocketmapClient(sm);
        Assert.That(client.Lookup("a", "k"), Is.EqualTo("OK one"));

        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = one}} }}\nmax_try = many\n");
        using (var broken = ServerProcess.Start("reload", "--config", ini))
        {
            Assert.That(broken.WaitForExit(60), Is.EqualTo(78), "a broken configuration is refused before any signal");
            Assert.That(broken.Stderr, Does.Contain($"{cf}:3"));
        }
        Assert.That(server.Stderr + server.Stdout, Does.Not.Contain("reloading"), "no signal was sent");

        File.WriteAllText(cf, $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = two}} }}\nkey_format = two-%s\n");
        using (var ok = ServerProcess.Start("reload", "--config", ini))
        {
            Assert.That(ok.WaitForExit(60), Is.EqualTo(0), ok.Stderr);
            Assert.That(ok.Stdout, Does.Contain($"SIGHUP sent to pid {server.Pid}"));
        }
        Assert.That(server.WaitForOutput("generation 2"), Is.True, server.Stderr + server.Stdout);
        Assert.That(client.Lookup("a", "k"), Is.EqualTo("OK two"));
    }

    /// <summary>
    /// reload signals servers only, by their command line: a CLI run on the same INI (a
    /// stand-in whose command line reads `dotnet .../TcpTableServer.dll load --config INI ...`)
    /// is no server and SIGHUP would end it; the installed binary (`/usr/sbin/tcptableserver
    /// --config INI`, lower case) is one.
    /// </summary>
    [Test]
    public void Reload_command_signals_the_installed_server_and_leaves_cli_runs_alone()
    {
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = one}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n[maps:a]\nconfig = a.cf\n");
        const string sleep = "import time; time.sleep(60)";
        using var cli = Process.Start("python3", ["-c", sleep, "/usr/lib/x/TcpTableServer.dll", "load", "--config", ini, "a", "file"])!;
        try
        {
            using (var reload = ServerProcess.Start("reload", "--config", ini))
            {
                Assert.That(reload.WaitForExit(60), Is.EqualTo(69), reload.Stdout + reload.Stderr);
                Assert.That(reload.Stderr, Does.Contain("no running TcpTableServer found"));
            }
            Assert.That(cli.HasExited, Is.False, "the load run got no SIGHUP");

            using var installed = Process.Start("python3",
                ["-c", "import signal, time; signal.signal(signal.SIGHUP, lambda *a: print('hup', flush=True)); time.sleep(60)",
                 "/usr/sbin/tcptableserver", "--config", ini])!;
            try
            {
                using var reload = ServerProcess.Start("reload", "--config", ini);
                Assert.That(reload.WaitForExit(60), Is.EqualTo(0), reload.Stdout + reload.Stderr);
                Assert.That(reload.Stdout, Does.Contain($"SIGHUP sent to pid {installed.Id}"));
            }
            finally
            {
                installed.Kill();
            }
        }
        finally
        {
            cli.Kill();
        }
    }

    private static bool Connects(int port)
    {
        try
        {
            using var c = new TcpClient("127.0.0.1", port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>The descriptor numbers of process <paramref name="pid"/> that point at <paramref name="file"/>.</summary>
    private static List<string> OpenDescriptors(int pid, string file)
    {
        string target = Path.GetFullPath(file);
        var fds = new List<string>();
        foreach (string fd in Directory.GetFiles($"/proc/{pid}/fd"))
        {
            try
            {
                if (new FileInfo(fd).LinkTarget == target) fds.Add(Path.GetFileName(fd));
            }
            catch (IOException) { }
        }
        fds.Sort(StringComparer.Ordinal);
        return fds;
    }
}
