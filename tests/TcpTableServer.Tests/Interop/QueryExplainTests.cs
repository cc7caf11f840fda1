using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// <c>query --explain MAP KEY</c> run as an operator runs it (our binary as a separate
/// process) against a real memcached: the report shows each step as the server's map code
/// took it (key folding, domain list, key_format/key_digest, each memcached attempt with its
/// raw reply, backup, write-back, tier, reply bytes), and its answer and exit code are those
/// of plain <c>query</c>.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class QueryExplainTests
{
    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = ServerProcess.Start(args);
        int code = p.WaitForExit(60);
        return (code, p.Stdout, p.Stderr);
    }

    private static (int Code, string Report) Explain(string ini, string map, string key)
    {
        var (code, stdout, stderr) = Run("--config", ini, "query", "--explain", map, key);
        TestContext.Out.WriteLine(stdout + stderr);
        return (code, stdout);
    }

    private static string Ini(TempDir d, string maps) =>
        d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n{maps}");

    /// <summary>The value of the report line "  NAME: value".</summary>
    private static string Field(string report, string name) =>
        Regex.Match(report, $"^  {Regex.Escape(name)}: +(.*)$", RegexOptions.Multiline) is { Success: true } m
            ? m.Groups[1].Value : throw new AssertionException($"no \"{name}:\" line in:\n{report}");

    [Test]
    public void Explain_of_a_memcached_hit_shows_the_raw_reply_and_the_memcached_tier()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = aliases:%s\n");
        var ini = Ini(d, "[maps:aliases]\nconfig = a.cf\n");
        mc.Set("aliases:alice@example.com", "alice@mail.example.org");

        var (code, r) = Explain(ini, "aliases", "Alice@Example.COM");

        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Contain("socketmap request: 25:aliases Alice@Example.COM,"));
        Assert.That(r, Does.Contain("tcp request:       get Alice@Example.COM\\n"));
        Assert.That(r, Does.Contain("folded A-Z only (all ASCII): \"alice@example.com\""), "V03 folding");
        Assert.That(r, Does.Contain("key_format = aliases:%s: \"aliases:alice@example.com\""));
        Assert.That(r, Does.Match(@"memcached get attempt 1 of max_try 2: found in \d+\.\d ms"));
        Assert.That(r, Does.Contain("> get aliases:alice@example.com\\r\\n"));
        Assert.That(r, Does.Contain("< VALUE aliases:alice@example.com 0 22\\r\\n"));
        Assert.That(r, Does.Contain("< alice@mail.example.org\\r\\n"));
        Assert.That(r, Does.Contain("< END\\r\\n"));
        Assert.That(Field(r, "tier"), Is.EqualTo("Memcached"));
        Assert.That(Field(r, "socketmap reply"), Is.EqualTo("25:OK alice@mail.example.org,"));
        Assert.That(Field(r, "tcp reply"), Is.EqualTo("200 alice@mail.example.org\\n"));
        Assert.That(r, Does.Contain("L1: none"));
    }

    [Test]
    public void Explain_of_a_miss_shows_the_backup_and_the_write_back_then_memcached_answers()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "bob@example.com bob@mail.example.org\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = aliases:%s\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, "[maps:aliases]\nconfig = a.cf\nl1_ttl = 60s\n");

        var (code, first) = Explain(ini, "aliases", "bob@example.com");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(first, Does.Contain("memcached get attempt 1 of max_try 2: not found"));
        Assert.That(first, Does.Contain($"backup texthash:{d["backup"]}: key \"bob@example.com\": found \"bob@mail.example.org\""));
        Assert.That(first, Does.Contain("> set aliases:bob@example.com 0 3600 20\\r\\n"));
        Assert.That(first, Does.Contain("< STORED\\r\\n"));
        Assert.That(first, Does.Contain("write-back: sent; stored"));
        Assert.That(Field(first, "tier"), Is.EqualTo("Backup"));
        Assert.That(first, Does.Contain("L1: l1_ttl = 60 s"), "the map's L1 options are shown");
        Assert.That(first, Does.Contain("L1 cache of memcache:aliases: key \"bob@example.com\": miss"));
        Assert.That(mc.Get("aliases:bob@example.com"), Is.EqualTo(("bob@mail.example.org", 0)), "written back for real");

        var (code2, second) = Explain(ini, "aliases", "bob@example.com");
        Assert.That(code2, Is.EqualTo(0));
        Assert.That(Field(second, "tier"), Is.EqualTo("Memcached"));
        Assert.That(second, Does.Not.Contain("backup texthash"));
        Assert.That(second, Does.Not.Contain("write-back"));
    }

    [Test]
    public void Explain_of_a_key_outside_the_domain_list_shows_the_skip_and_asks_no_one()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "carol@other.org carol\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = texthash:{d["backup"]}\ndomain = example.com\n");
        var ini = Ini(d, "[maps:aliases]\nconfig = a.cf\n");

        var (code, r) = Explain(ini, "aliases", "carol@other.org");
        Assert.That(code, Is.EqualTo(1), "not found, as query");
        Assert.That(r, Does.Contain("domain = example.com"));
        Assert.That(r, Does.Contain("domain list: domain \"other.org\" matched no pattern"));
        Assert.That(r, Does.Contain("key skipped: domain mismatch"));
        Assert.That(r, Does.Not.Contain("memcached get"), "spec 3.2: a skipped key never reaches memcached");
        Assert.That(r, Does.Not.Contain("backup texthash"), "nor the backup");
        Assert.That(Field(r, "tier"), Is.EqualTo("Skipped"));
        Assert.That(Field(r, "socketmap reply"), Is.EqualTo("9:NOTFOUND ,"));
        Assert.That(Field(r, "tcp reply"), Is.EqualTo("500 not-found\\n"));

        var (_, noAt) = Explain(ini, "aliases", "example.com");
        Assert.That(noAt, Does.Contain("the key has no '@' or an empty localpart"));

        var (passed, ok) = Explain(ini, "aliases", "dave@example.com");
        Assert.That(passed, Is.EqualTo(1));
        Assert.That(ok, Does.Contain("domain \"example.com\" matched a pattern: key passed"));
        Assert.That(ok, Does.Contain("memcached get attempt 1"));
    }

    [Test]
    public void Explain_with_memcached_down_lists_the_connect_failure_then_the_backup_or_the_error()
    {
        using var d = new TempDir();
        int closed = FreePort.Closed();
        d.File("backup", "erin@example.com erin\n");
        d.File("down.cf", $"memcache = inet:127.0.0.1:{closed}\n");
        d.File("backed.cf", $"memcache = inet:127.0.0.1:{closed}\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, "[maps:down]\nconfig = down.cf\n[maps:backed]\nconfig = backed.cf\n");

        var (code, r) = Explain(ini, "down", "erin@example.com");
        Assert.That(code, Is.EqualTo(75), "V17 temporary error, exit as query");
        Assert.That(Regex.Matches(r, "memcached get attempt").Count, Is.EqualTo(1), "V17: a connect failure ends the attempt loop");
        Assert.That(r, Does.Contain("connect failed (ends the attempt loop, V17)"));
        Assert.That(r, Does.Contain($"warning: connect to 127.0.0.1:{closed}: Connection refused"));
        Assert.That(r, Does.Contain("< (no reply: not connected)"));
        Assert.That(Field(r, "tier"), Is.EqualTo("Error"));
        Assert.That(Field(r, "socketmap reply"), Is.EqualTo("22:TEMP temporary-failure,"));
        Assert.That(Field(r, "tcp reply"), Is.EqualTo("400 temporary-failure\\n"));

        var (code2, b) = Explain(ini, "backed", "erin@example.com");
        Assert.That(code2, Is.EqualTo(0), "V18: the backup answers");
        Assert.That(Field(b, "tier"), Is.EqualTo("Backup"));
        Assert.That(Regex.Matches(b, "memcached set attempt 1 of max_try 2: connect failed").Count, Is.EqualTo(1), "the write-back tried too");
        Assert.That(b, Does.Contain("write-back: sent; failed (the answer stays the backup's)"));
    }

    /// <summary>
    /// POLICY memcache_nodes: each memcached attempt names the node of the key's ring it went
    /// to; a node ejected (memcache_node_failures = 1: after its one failed get) is shown as not
    /// asked for the write-back.
    /// </summary>
    [Test]
    public void Explain_of_a_memcache_nodes_map_names_each_attempts_node_and_an_ejected_node_as_not_asked()
    {
        using var a = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        using var d = new TempDir();
        string dead = $"inet:127.0.0.1:{FreePort.Closed()}";
        string[] nodes = [a.Endpoint, dead, c.Endpoint];
        string list = string.Join(", ", nodes);
        var ring = new KetamaRing([.. MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes", list, "t", 1)).Select(s => (s.KetamaName, s.Weight))]);
        string onA = Enumerable.Range(0, 1000).Select(i => $"user{i}@example.com").First(k => ring.NodeOf(k) == 0);
        string onDead = Enumerable.Range(0, 1000).Select(i => $"user{i}@example.com").First(k => ring.NodeOf(k) == 1);
        a.Set(onA, "from-a");
        d.File("backup", $"{onDead} from-backup\n");
        d.File("m.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, $"[maps:m]\nconfig = m.cf\nmemcache_nodes = {list}\nmemcache_node_failures = 1\n");

        var (code, r) = Explain(ini, "m", onA);
        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Match($@"memcached get attempt 1 of max_try 2 on node {Regex.Escape(a.Endpoint)}: found in \d+\.\d ms"));
        Assert.That(r, Does.Contain($"< VALUE {onA} 0 6\\r\\n"));
        Assert.That(Field(r, "tier"), Is.EqualTo("Memcached"));

        var (code2, b) = Explain(ini, "m", onDead);
        Assert.That(code2, Is.EqualTo(0));
        Assert.That(b, Does.Contain($"memcached get attempt 1 of max_try 2 on node {dead}: connect failed (ends the attempt loop, V17)"));
        Assert.That(b, Does.Contain($"backup texthash:{d["backup"]}: key \"{onDead}\": found \"from-backup\""));
        Assert.That(b, Does.Contain($"memcached set: node {dead} is ejected (memcache_node_failures): not asked"));
        Assert.That(b, Does.Not.Contain("memcached set attempt"), "the ejected node is not asked");
        Assert.That(b, Does.Contain("write-back: sent; failed (the answer stays the backup's)"));
        Assert.That(Field(b, "tier"), Is.EqualTo("Backup"));
    }

    /// <summary>
    /// A write-back with negative flags is never sent (memcached would reject it unread, as a
    /// key over 250 bytes): the report gives that reason, not the key length.
    /// </summary>
    [Test]
    public void Explain_of_a_write_back_with_negative_flags_says_why_it_was_not_sent()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "bob@example.com bob\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nflags = -1\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, "[maps:aliases]\nconfig = a.cf\n");

        var (code, r) = Explain(ini, "aliases", "bob@example.com");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Contain("not sent: memcached would reject it unread (negative flags = -1)"));
        Assert.That(r, Does.Not.Contain("key longer than 250 bytes"));
        Assert.That(Field(r, "tier"), Is.EqualTo("Backup"));
    }

    [Test]
    public void Explain_with_memcached_frozen_lists_max_try_attempts_each_near_the_timeout()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\ntimeout = 1\nmax_try = 2\nretry_pause = 1\n");
        var ini = Ini(d, "[maps:frozen]\nconfig = a.cf\n");
        using (mc.Freeze())
        {
            var (code, r) = Explain(ini, "frozen", "frank@example.com");
            Assert.That(code, Is.EqualTo(75));
            var attempts = Regex.Matches(r, @"memcached get attempt (\d) of max_try 2: (failed[^\n]*) in (\d+\.\d) ms");
            Assert.That(attempts.Select(m => m.Groups[1].Value), Is.EqualTo(new[] { "1", "2" }), "spec 3.9: max_try attempts");
            double Ms(int i) => double.Parse(attempts[i].Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.That(Ms(0), Is.InRange(900, 3000), "the first attempt waits the 1 s timeout");
            Assert.That(Ms(1), Is.InRange(500, 3000), "the second waits until the timeout or the request's deadline (3 s in all)");
            Assert.That(r, Does.Contain("warning: database memcache:frozen: I/O error"));
            Assert.That(Field(r, "tier"), Is.EqualTo("Error"));
        }
    }

    [Test]
    public void Explain_of_key_format_and_key_digest_shows_the_key_memcached_really_received()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "gina@example.com gina@mail.example.org\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = v1:%u:%d\nkey_digest = sha256\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, "[maps:hashed]\nconfig = a.cf\n");

        var (code, r) = Explain(ini, "hashed", "Gina@Example.com");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Contain("key_format = v1:%u:%d: \"v1:gina:example.com\""));
        string expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes("v1:gina:example.com")));
        Assert.That(r, Does.Contain($"key_digest = sha256: \"{expected}\""));
        string shown = Regex.Match(r, "memcached key: \"([^\"]*)\"").Groups[1].Value;
        Assert.That(shown, Is.EqualTo(expected));
        Assert.That(mc.Get(shown), Is.EqualTo(("gina@mail.example.org", 0)),
            "memcached's own get of the shown key finds the written-back value");
    }

    [Test]
    public void Explain_of_a_non_ascii_key_in_smtputf8_mode_shows_the_unicode_folded_form()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "ñandú@example.com rhea\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = u:%s\nbackup = texthash:{d["backup"]}\n");
        var ini = Ini(d, "[maps:utf8]\nconfig = a.cf\n");

        var (code, r) = Explain(ini, "utf8", "ÑANDÚ@Example.COM");
        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Contain("smtputf8_enable = yes"));
        Assert.That(r, Does.Contain("tcp request:       get %C3%91AND%C3%9A@Example.COM\\n"), "the key %XX-encoded as Postfix's tcp client sends it");
        Assert.That(r, Does.Contain("socketmap request: 24:utf8 \\xC3\\x91AND\\xC3\\x9A@Example.COM,"));
        Assert.That(r, Does.Contain("folded by Unicode case folding (ICU, not all ASCII): \"ñandú@example.com\""), "spec 3.3");
        Assert.That(r, Does.Contain("memcached key: \"u:ñandú@example.com\""));
        Assert.That(Field(r, "tier"), Is.EqualTo("Backup"));
        Assert.That(mc.Get("u:" + Encoding.Latin1.GetString(Encoding.UTF8.GetBytes("ñandú@example.com"))), Is.EqualTo(("rhea", 0)));
    }

    [Test]
    public void Explain_gives_the_same_answer_and_exit_code_as_plain_query()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "hank@example.com hank-backup\nivy@example.com ivy-backup\n");
        d.File("a.cf", $"memcache = {mc.Endpoint}\nkey_format = q:%s\nbackup = texthash:{d["backup"]}\ndomain = example.com\n");
        var ini = Ini(d, "[maps:q]\nconfig = a.cf\n");
        mc.Set("q:hank@example.com", "hank-cached");

        foreach (string key in new[] { "hank@example.com", "IVY@example.com", "nobody@example.com", "x@elsewhere.net", "" })
        {
            var (plainCode, plainOut, _) = Run("--config", ini, "query", "q", key);
            var (explainCode, report) = Explain(ini, "q", key);
            Assert.That(explainCode, Is.EqualTo(plainCode), key);
            string result = Field(report, "result");
            if (plainCode == 0)
                Assert.That(result, Is.EqualTo($"Found \"{plainOut.TrimEnd('\n')}\""), key);
            else
                Assert.That(result, Is.EqualTo("NotFound"), key);
        }
    }

    /// <summary>
    /// Spec 2.6 (TIMEOUT may replace TEMP for a timeout): a lookup past the map's deadline
    /// (memcached frozen by SIGSTOP, timeout 3 s, deadline 1 s) is reported with the bytes the
    /// server sends for it, socketmap <c>16:TIMEOUT deadline,</c> and tcp <c>400</c>, and the
    /// exit of query's temporary error.
    /// </summary>
    [Test]
    public void Spec2_6_Explain_of_a_lookup_past_the_deadline_shows_the_socketmap_TIMEOUT_reply()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\ntimeout = 3\nmax_try = 1\n");
        var ini = Ini(d, "[maps:slow]\nconfig = a.cf\ndeadline = 1s\n");

        using (mc.Freeze())
        {
            var (code, r) = Explain(ini, "slow", "k@example.com");
            Assert.That(code, Is.EqualTo(75), "a temporary error, exit as query");
            Assert.That(r, Does.Contain("deadline = 1 s"));
            Assert.That(Field(r, "tier"), Is.EqualTo("Deadline"));
            Assert.That(Field(r, "socketmap reply"), Is.EqualTo("16:TIMEOUT deadline,"));
            Assert.That(Field(r, "tcp reply"), Is.EqualTo("400 temporary-failure\\n"));
            // The get still in flight has no end time: the report says so, with no time against an unset end.
            Assert.That(r, Does.Contain("attempt 1 of max_try 1: no reply yet when the lookup was answered"));
            Assert.That(r, Does.Not.Match(@" in -\d"));
        }
    }
}
