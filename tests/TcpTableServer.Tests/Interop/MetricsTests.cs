using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// <c>[server] metrics</c> against the real server process, real memcached: GET /metrics
/// counts every lookup of both protocols, GET /health follows memcached and the backup,
/// the listener is off unless configured, and a non-loopback address needs an allow list.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class MetricsTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(int port, string path)
    {
        using var response = await Http.GetAsync($"http://127.0.0.1:{port}{path}");
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The sum of the samples of <paramref name="metric"/> whose labels include every one of <paramref name="labels"/>.</summary>
    private static double Sample(string text, string metric, params string[] labels)
    {
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            var m = Regex.Match(line, $@"^{metric}\{{(?<labels>[^}}]*)\}} (?<value>\S+)$");
            if (m.Success && labels.All(l => m.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
                sum += double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return sum;
    }

    [Test]
    public async Task Metrics_RequestsTotal_MovesByExactlyTheLookupsMade_BothProtocols()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next(), http = FreePort.Next();
        d.File("x.cf", $"memcache = {mc.Endpoint}\nkey_format = x:%s\n");
        var ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:x]\nconfig = x.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        mc.Set("x:hit", "v");
        using var server = ServerProcess.Serve(ini, sm, tcp, http);

        var (status, before) = await GetAsync(http, "/metrics");
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        for (int i = 0; i < 3; i++) Assert.That(RawSocket.Exchange(tcp, "get hit\n"), Is.EqualTo("200 v\n"));
        for (int i = 0; i < 4; i++) Assert.That(RawSocket.Exchange(tcp, "get miss\n"), Is.EqualTo("500 not-found\n"));
        for (int i = 0; i < 5; i++) Assert.That(RawSocket.Exchange(sm, "5:x hit,"), Is.EqualTo("4:OK v,"));
        Assert.That(RawSocket.Exchange(sm, "6:x miss,"), Is.EqualTo("9:NOTFOUND ,"));
        var (_, after) = await GetAsync(http, "/metrics");

        double Delta(params string[] labels) =>
            Sample(after, "tcptable_requests_total", labels) - Sample(before, "tcptable_requests_total", labels);
        Assert.Multiple(() =>
        {
            Assert.That(Delta("map=\"x\"", "protocol=\"tcp\"", "result=\"found\""), Is.EqualTo(3), after);
            Assert.That(Delta("map=\"x\"", "protocol=\"tcp\"", "result=\"notfound\""), Is.EqualTo(4), after);
            Assert.That(Delta("map=\"x\"", "protocol=\"socketmap\"", "result=\"found\""), Is.EqualTo(5), after);
            Assert.That(Delta("map=\"x\"", "protocol=\"socketmap\"", "result=\"notfound\""), Is.EqualTo(1), after);
            Assert.That(Delta("map=\"x\""), Is.EqualTo(13), "nothing else counted");
            Assert.That(Sample(after, "tcptable_request_duration_seconds_count", "map=\"x\"", "protocol=\"tcp\"")
                        - Sample(before, "tcptable_request_duration_seconds_count", "map=\"x\"", "protocol=\"tcp\""), Is.EqualTo(7));
            Assert.That(Sample(after, "tcptable_lookups_total", "map=\"x\"", "tier=\"memcached\"")
                        - Sample(before, "tcptable_lookups_total", "map=\"x\"", "tier=\"memcached\""), Is.EqualTo(13));
            Assert.That(after, Does.Contain("tcptable_connections{"));
            Assert.That(after, Does.Contain("tcptable_reloads_total{"));
            Assert.That(Sample(after, "tcptable_config_loaded_timestamp_seconds"), Is.GreaterThan(1.7e9));
        });
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    /// <summary>
    /// /health: 200 while every memcached answers; with memcached down, 503 naming the map
    /// without a backup, while the map whose backup answers (spec 3.4 fall-through) stays healthy.
    /// </summary>
    [Test]
    public async Task Health_MemcachedDown_503NamesTheMapWithoutBackup_MapWithBackupStaysHealthy()
    {
        var plain = MemcachedProcess.Start();
        var backed = MemcachedProcess.Start();
        try
        {
            using var d = new TempDir();
            int sm = FreePort.Next(), http = FreePort.Next();
            d.File("backup", "k v\n");
            d.File("plain.cf", $"memcache = {plain.Endpoint}\n");
            d.File("backed.cf", $"memcache = {backed.Endpoint}\nbackup = texthash:backup\n");
            var ini = d.File("server.ini",
                $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:plain]\nconfig = plain.cf\n[maps:backed]\nconfig = backed.cf\n");
            using var server = ServerProcess.Serve(ini, sm, http);

            Assert.That(await GetAsync(http, "/health"), Is.EqualTo((HttpStatusCode.OK, "ok\n")));

            backed.Dispose();   // memcached gone, backup answers
            Assert.That(await GetAsync(http, "/health"), Is.EqualTo((HttpStatusCode.OK, "ok\n")), "a working backup answers for the map");

            plain.Dispose();    // memcached gone, no backup
            var (status, body) = await GetAsync(http, "/health");
            Assert.That(status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), body);
            Assert.That(body, Does.StartWith("plain: memcached " + plain.Endpoint));
            Assert.That(body, Does.Contain("no backup"));
            Assert.That(body, Does.Not.Contain("backed"));
            Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
        }
        finally
        {
            plain.Dispose();
            backed.Dispose();
        }
    }

    /// <summary>
    /// L1 hits and misses, memcached errors and backup answers per map: three lookups of one key
    /// on a map with an L1 are one miss and two hits; a map whose memcached is down counts a
    /// memcached error per lookup, and its backup answers (tier backup).
    /// </summary>
    [Test]
    public async Task Metrics_L1HitsMisses_MemcachedErrors_BackupTier_PerMap()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int sm = FreePort.Next(), http = FreePort.Next();
        d.File("backup", "k v\n");
        d.File("cached.cf", $"memcache = {mc.Endpoint}\n");
        d.File("down.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = texthash:backup\nmax_try = 1\n");
        var ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:cached]\nconfig = cached.cf\nl1_ttl = 60\n[maps:down]\nconfig = down.cf\n");
        mc.Set("k", "v");
        using var server = ServerProcess.Serve(ini, sm, http);
        for (int i = 0; i < 3; i++) Assert.That(RawSocket.Exchange(sm, "8:cached k,"), Is.EqualTo("4:OK v,"));
        for (int i = 0; i < 2; i++) Assert.That(RawSocket.Exchange(sm, "6:down k,"), Is.EqualTo("4:OK v,"));
        var (_, body) = await GetAsync(http, "/metrics");
        Assert.Multiple(() =>
        {
            Assert.That(Sample(body, "tcptable_l1_misses_total", "map=\"cached\""), Is.EqualTo(1), body);
            Assert.That(Sample(body, "tcptable_l1_hits_total", "map=\"cached\""), Is.EqualTo(2));
            Assert.That(Sample(body, "tcptable_lookups_total", "map=\"cached\"", "tier=\"l1\""), Is.EqualTo(2));
            Assert.That(Sample(body, "tcptable_memcached_errors_total", "map=\"down\""), Is.EqualTo(2));
            Assert.That(Sample(body, "tcptable_memcached_errors_total", "map=\"cached\""), Is.EqualTo(0));
            Assert.That(Sample(body, "tcptable_backup_errors_total", "map=\"down\""), Is.EqualTo(0));
            Assert.That(Sample(body, "tcptable_lookups_total", "map=\"down\"", "tier=\"backup\""), Is.EqualTo(2));
            // whatever the exporter's label order: no sample of the L1 counter for the map without L1
            Assert.That(body, Does.Not.Match(@"(?m)^tcptable_l1_misses_total\{[^}]*map=""down"""), "no L1, no L1 counters");
        });
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    /// <summary>
    /// tcptable_l1_evictions_total counts the entries an L1 drops to make room: with
    /// <c>l1_size = 2</c> (two generations of one entry) two keys fit and nothing is evicted;
    /// each further key drops the old generation's entry, so two more keys evict two.
    /// </summary>
    [Test]
    public async Task Metrics_L1Evictions_MoveWhenTheL1Overflows()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int sm = FreePort.Next(), http = FreePort.Next();
        d.File("small.cf", $"memcache = {mc.Endpoint}\n");
        var ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:small]\nconfig = small.cf\nl1_ttl = 60\nl1_size = 2\n");
        foreach (var k in new[] { "k1", "k2", "k3", "k4" }) mc.Set(k, "v");
        using var server = ServerProcess.Serve(ini, sm, http);

        async Task<double> Evictions() => Sample((await GetAsync(http, "/metrics")).Body, "tcptable_l1_evictions_total", "map=\"small\"");
        Assert.That(await Evictions(), Is.Zero);
        Assert.That(RawSocket.Exchange(sm, "8:small k1,"), Is.EqualTo("4:OK v,"));
        Assert.That(RawSocket.Exchange(sm, "8:small k2,"), Is.EqualTo("4:OK v,"));
        Assert.That(await Evictions(), Is.Zero, "two entries fit in l1_size = 2");
        Assert.That(RawSocket.Exchange(sm, "8:small k3,"), Is.EqualTo("4:OK v,"));
        Assert.That(RawSocket.Exchange(sm, "8:small k4,"), Is.EqualTo("4:OK v,"));
        var (_, body) = await GetAsync(http, "/metrics");
        Assert.That(Sample(body, "tcptable_l1_evictions_total", "map=\"small\""), Is.EqualTo(2), body);
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    /// <summary>SIGHUP reloads are counted by outcome; a failed one leaves the load time of the active configuration alone.</summary>
    [Test]
    public async Task Metrics_ReloadsTotal_CountsOkAndFailed()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int sm = FreePort.Next(), http = FreePort.Next();
        d.File("x.cf", $"memcache = {mc.Endpoint}\n");
        string text = $"[server]\nsocketmap = inet:127.0.0.1:{sm}\nmetrics = inet:127.0.0.1:{http}\n[maps:x]\nconfig = x.cf\n";
        var ini = d.File("server.ini", text);
        using var server = ServerProcess.Serve(ini, sm, http);

        async Task<(double Ok, double Failed, double Loaded)> Read()
        {
            var (_, body) = await GetAsync(http, "/metrics");
            return (Sample(body, "tcptable_reloads_total", "result=\"ok\""), Sample(body, "tcptable_reloads_total", "result=\"failed\""),
                Sample(body, "tcptable_config_loaded_timestamp_seconds"));
        }
        async Task<(double Ok, double Failed, double Loaded)> AfterHup(Func<(double Ok, double Failed, double Loaded), bool> done)
        {
            Assert.That(Kill(server.Pid, 1), Is.Zero, "SIGHUP");
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var now = await Read();
                if (done(now) || DateTime.UtcNow > deadline) return now;
                await Task.Delay(100);
            }
        }

        var start = await Read();
        Assert.That((start.Ok, start.Failed), Is.EqualTo((0.0, 0.0)));
        var ok = await AfterHup(r => r.Ok == 1);
        Assert.That((ok.Ok, ok.Failed), Is.EqualTo((1.0, 0.0)), server.Stderr);
        Assert.That(ok.Loaded, Is.GreaterThanOrEqualTo(start.Loaded));
        d.File("server.ini", text + "bogus = 1\n");
        var failed = await AfterHup(r => r.Failed == 1);
        Assert.That((failed.Ok, failed.Failed), Is.EqualTo((1.0, 1.0)), server.Stderr);
        Assert.That(failed.Loaded, Is.EqualTo(ok.Loaded), "the active configuration is still the one loaded before");
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Without [server] metrics the process listens on its table listeners and nothing else.</summary>
    [Test]
    public void Metrics_OffByDefault_NoPortOpened()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        d.File("x.cf", $"memcache = {mc.Endpoint}\n");
        var ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:x]\nconfig = x.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        using var server = ServerProcess.Serve(ini, sm, tcp);
        Assert.That(ListeningPorts(server.Pid), Is.EquivalentTo(new[] { sm, tcp }));
        Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
    }

    [Test]
    public void Metrics_NonLoopbackWithoutAllowList_RefusesToStart_NamingFileAndLine()
    {
        using var d = new TempDir();
        d.File("x.cf", "memcache = inet:127.0.0.1:11211\n");
        var ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\nmetrics = inet:0.0.0.0:{FreePort.Next()}\n[maps:x]\nconfig = x.cf\n");
        using var p = ServerProcess.Start("--config", ini);
        int code = p.WaitForExit(60);
        string err = p.Stderr + p.Stdout;
        Assert.That(code, Is.EqualTo(78), err);
        Assert.That(err, Does.Contain("server.ini:3"));
        Assert.That(err, Does.Contain("no allow list"));
    }

    [Test]
    public void Metrics_NonLoopbackWithAllowList_IsAccepted()
    {
        using var d = new TempDir();
        d.File("x.cf", "memcache = inet:127.0.0.1:11211\n");
        var ini = d.File("server.ini",
            $"[server]\nallow = 10.0.0.0/8\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\nmetrics = inet:0.0.0.0:9102\n[maps:x]\nconfig = x.cf\n");
        var def = TcpTableServer.Config.ServerConfigLoader.Load(ini, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.That(def.Options.Metrics!.Allow!.ToString(), Does.Contain("10.0.0.0/8"));
    }

    /// <summary>The TCP ports <paramref name="pid"/> listens on (its socket inodes in /proc/net/tcp and tcp6, state LISTEN).</summary>
    private static HashSet<int> ListeningPorts(int pid)
    {
        var inodes = new HashSet<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            try
            {
                string? target = new FileInfo(fd).LinkTarget;
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)) inodes.Add(target[8..^1]);
            }
            catch (IOException) { }
        }
        var ports = new HashSet<int>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f[3] == "0A" && inodes.Contains(f[9]))
                    ports.Add(int.Parse(f[1][(f[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber));
            }
        }
        return ports;
    }
}
