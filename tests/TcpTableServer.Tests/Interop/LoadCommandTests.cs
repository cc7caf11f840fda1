using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Host;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The <c>load</c> verb as a process: a postmap(1) source file into a map's lmdb backup (and
/// memcached with --warm), read as postmap reads it, each key prepared as a put would prepare
/// it, so <c>query</c> (and Postfix's own postmap -q on the file) finds every loaded key.
/// Real memcached, real lmdb files, real postmap.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class LoadCommandTests
{
    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
    }

    [TearDown]
    public void TearDown()
    {
        _mc.Dispose();
        _dir.Dispose();
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = ServerProcess.Start(args);
        int code = p.WaitForExit(120);
        return (code, p.Stdout, p.Stderr);
    }

    /// <summary>
    /// A server INI with map "aliases" (cf text given, <paramref name="section"/> for the INI's
    /// own map options) whose lmdb backup is created if missing.
    /// </summary>
    private string Ini(string cf, string section = "")
    {
        _dir.File("aliases.cf", $"memcache = {_mc.Endpoint}\n{cf}");
        return _dir.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n" +
                                       $"[maps:aliases]\nconfig = aliases.cf\nbackup_create = yes\n{section}");
    }

    private const string LmdbCf = "backup = lmdb:aliases\n";

    /// <summary>The source file, written as UTF-8 bytes.</summary>
    private string Source(string text, string name = "aliases.src")
    {
        string path = _dir.File(name);
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(text));
        return path;
    }

    private static List<(string Key, string Value)> Entries(int n) =>
        [.. Enumerable.Range(0, n).Select(i => ($"User{i}@Example.COM", $"user{i}@mail.example.net, archive{i % 7}"))];

    private static string SourceText(IEnumerable<(string Key, string Value)> entries) =>
        "# generated\n" + string.Concat(entries.Select(e => $"{e.Key}\t{e.Value}\n"));

    /// <summary>
    /// The keys of <paramref name="expected"/> that the map's served table (the code of
    /// <c>query</c>) does not answer with their value: opened in this process once, as the
    /// query verb opens it, so 10 000 keys take a second rather than 10 000 processes.
    /// </summary>
    private static async Task<List<string>> NotFoundByQuery(string ini, IEnumerable<(string Key, string Value)> expected)
    {
        using var logs = new ListLogger();
        await using var maps = MapSet.Open(ServerConfigLoader.Load(ini, logs), logs, only: "aliases");
        var table = maps.Tables["aliases"];
        var missing = new List<string>();
        foreach (var (k, v) in expected)
            if (await table.LookupAsync(Octets.FromUtf8(k)) != LookupResult.Found(Octets.FromUtf8(v)))
                missing.Add(k);
        return missing;
    }

    /// <summary>The <c>query</c> verb as a process: the value, or null with exit 1.</summary>
    private static string? QueryCli(string ini, string key)
    {
        var (code, stdout, stderr) = Run("--config", ini, "query", "aliases", key);
        Assert.That(code, Is.EqualTo(0).Or.EqualTo(1), stderr);
        return code == 0 ? stdout.TrimEnd('\n') : null;
    }

    [Test]
    public async Task Load_10000Entries_IntoLmdb_QueryAndPostmapFindEveryKey_MemcachedUntouched()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        var ini = Ini(LmdbCf);
        var entries = Entries(10_000);
        var src = Source(SourceText(entries));

        var (code, stdout, stderr) = Run("--config", ini, "load", "aliases", src);

        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Match(
            $@"^load: aliases: 10000 entries from {System.Text.RegularExpressions.Regex.Escape(src)} into lmdb:{_dir.File("aliases")} in \d+\.\d s\n$"));
        Assert.That(_mc.Get("user0@example.com"), Is.Null, "without --warm memcached is not written");
        // postmap -s lists what Postfix reads from the file: every key, folded as postmap folds it
        // (postmap -q - with 10 000 keys on stdin would fill the pipes of the Postfix helper).
        var postfix = new Postfix(_dir.Path);
        Assert.That(postfix.Dump("lmdb:" + _dir.File("aliases")),
            Is.EqualTo(entries.Select(e => $"{e.Key.ToLowerInvariant()}\t{e.Value}").Order(StringComparer.Ordinal).ToArray()));
        Assert.That(postfix.Value("user9999@example.com", "lmdb:" + _dir.File("aliases")), Is.EqualTo(entries[9999].Value));
        Assert.That(await NotFoundByQuery(ini, entries), Is.Empty);
        Assert.That(QueryCli(ini, "USER4711@example.com"), Is.EqualTo(entries[4711].Value));
    }

    [Test]
    public void Warm_SetsEveryEntryInMemcached_WithTheMapsTtlAndFlags()
    {
        var ini = Ini(LmdbCf + "key_format = a:%s\nttl = 600\nflags = 7\n");
        var entries = Entries(10_000);
        var src = Source(SourceText(entries));

        var (code, stdout, stderr) = Run("--config", ini, "load", "--warm", "aliases", src);

        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("10000 entries").And.Contain("(memcached warmed: 10000)"));
        for (int i = 0; i < entries.Count; i += 7)
            Assert.That(_mc.Get($"a:user{i}@example.com"), Is.EqualTo((entries[i].Value, 7)), $"entry {i}");
        // memcached's meta get shows the remaining ttl (t) and the flags (f): the map's ttl, counted down since the set
        var mg = Encoding.ASCII.GetString(_mc.Raw("mg a:user9999@example.com t f\r\n"u8.ToArray(), "\r\n"));
        Assert.That(mg, Does.Match(@"^HD t\d+ f7\r\n$"));
        Assert.That(int.Parse(System.Text.RegularExpressions.Regex.Match(mg, @" t(\d+)").Groups[1].Value), Is.InRange(540, 600), mg);
    }

    /// <summary>
    /// POLICY memcache_nodes: <c>load --warm</c> sets each key on the node of its ketama ring, the
    /// node the map's lookups ask, not on the map's one <c>memcache</c> (which memcache_nodes replaces).
    /// </summary>
    [Test]
    public async Task Warm_WithMemcacheNodes_SetsEachKeyOnItsRingNode_QueryFindsEveryKey()
    {
        using var b = MemcachedProcess.Start();
        using var c = MemcachedProcess.Start();
        MemcachedProcess[] nodes = [_mc, b, c];
        string list = string.Join(", ", nodes.Select(n => n.Endpoint));
        var ini = Ini("", $"memcache_nodes = {list}\n");   // no backup: memcached alone holds the keys
        var ring = new KetamaRing([.. MemcacheNodeSpec.ParseList(new ConfigValue("memcache_nodes", list, "t", 1)).Select(s => (s.KetamaName, s.Weight))]);
        var entries = Entries(600);
        var src = Source(SourceText(entries));

        var (code, stdout, stderr) = Run("--config", ini, "load", "--warm", "aliases", src);

        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("(memcached warmed: 600)"));
        var perNode = new int[3];
        foreach (var (k, v) in entries)
        {
            string key = k.ToLowerInvariant();   // fold_keys = yes, key_format = %s
            int owner = ring.NodeOf(key);
            perNode[owner]++;
            for (int n = 0; n < 3; n++)
                Assert.That(nodes[n].Get(key)?.Value, Is.EqualTo(n == owner ? v : null), $"{key} on node {n}");
        }
        Assert.That(perNode, Has.All.GreaterThan(0), "the keys spread over the three nodes");
        Assert.That(await NotFoundByQuery(ini, entries), Is.Empty);
    }

    [TestCase("yes")]
    [TestCase("no")]
    public async Task KeysArePreparedAsAPutPreparesThem_KeyFormatFoldKeysDomain_QueryFindsEveryLoadedKey(string foldKeys)
    {
        var ini = Ini(LmdbCf + "key_format = u:%u\ndomain = example.com, Example.ORG\n", $"fold_keys = {foldKeys}\n");
        var entries = new List<(string Key, string Value)>
        {
            ("Alice@Example.COM", "alice"), ("bob@example.org", "bob"), ("JÜRGEN@example.com", "jürgen"),
            ("Carol@EXAMPLE.ORG", "carol value\twith tab"),
        };
        entries.AddRange(Enumerable.Range(0, 200).Select(i => ($"U{i}@Example.com", $"v{i}")));
        var src = Source(SourceText(entries.Take(2)) + "mallory@elsewhere.net spam\n" + SourceText(entries.Skip(2)));

        // A key outside the domain list is skipped by key preparation: a bad line, nothing written.
        var (code, _, stderr) = Run("--config", ini, "load", "--warm", "aliases", src);
        Assert.That(code, Is.EqualTo(65), stderr);
        Assert.That(stderr, Does.Contain($"{src}:4: key \"mallory@elsewhere.net\" is skipped by the map's key preparation: domain mismatch"));
        Assert.That(stderr, Does.Contain("nothing written"));
        Assert.That(File.ReadAllBytes(_dir.File("aliases.lmdb")).Length, Is.GreaterThan(0));
        Assert.That(await NotFoundByQuery(ini, entries), Has.Count.EqualTo(entries.Count), "nothing was loaded");

        var (code2, stdout2, stderr2) = Run("--config", ini, "load", "--warm", "--skip-bad", "aliases", src);
        Assert.That(code2, Is.EqualTo(0), stderr2);
        Assert.That(stdout2, Does.Contain($"{entries.Count} entries").And.Contain($"1 bad line(s) skipped: {src}:4: key \"mallory@elsewhere.net\""));
        Assert.That(await NotFoundByQuery(ini, entries), Is.Empty);
        // memcached got the key a put would have used: key_format %u of the (folded) key
        Assert.That(_mc.Get(foldKeys == "yes" ? "u:alice" : "u:Alice"), Is.EqualTo(("alice", 0)));
        Assert.That(QueryCli(ini, "mallory@elsewhere.net"), Is.Null);
        Assert.That(QueryCli(ini, "JÜRGEN@example.com"), Is.EqualTo("jürgen"));
        if (foldKeys == "yes")
            Assert.That(QueryCli(ini, "jürgen@EXAMPLE.com"), Is.EqualTo("jürgen"), "Unicode folding as the map's UTF-8 layer");
    }

    /// <summary>
    /// The progress bar: on a terminal (a pseudo-terminal from util-linux script(1)) one line
    /// redrawn with "\r" per batch, its percentage rising to 100%, then cleared, then the
    /// summary; with standard error redirected (a log, a pipe) no "\r" at all, only the summary.
    /// </summary>
    [Test]
    public void OnATerminal_TheBarIsRedrawnUpTo100Percent_ThenTheSummary_Redirected_NoCarriageReturn()
    {
        int batch = LoadCommand.BatchSize, total = 2 * batch + 10;   // three batches
        var ini = Ini(LmdbCf);
        var src = Source(SourceText(Entries(total)));
        string Quote(string a) => "'" + a.Replace("'", "'\\''") + "'";
        string cmd = $"dotnet {Quote(ServerProcess.ServerDll)} --config {Quote(ini)} load aliases {Quote(src)}";
        var psi = new System.Diagnostics.ProcessStartInfo("script", ["-qec", cmd, "/dev/null"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        psi.Environment["DOTNET_NOLOGO"] = "1";
        string tty;
        using (var p = System.Diagnostics.Process.Start(psi)!)
        {
            var err = p.StandardError.ReadToEndAsync();
            tty = p.StandardOutput.ReadToEnd();
            Assert.That(p.WaitForExit(120_000), Is.True);
            Assert.That(p.ExitCode, Is.EqualTo(0), tty + err.Result);
        }
        var bars = System.Text.RegularExpressions.Regex.Matches(tty, @"\rload: aliases: \[([#.]{30})\] +(\d+)% (\d+)/" + total)
            .Select(m => (Percent: int.Parse(m.Groups[2].Value), Done: int.Parse(m.Groups[3].Value))).ToList();
        Assert.That(bars.Select(b => b.Done), Is.EqualTo(new[] { batch, 2 * batch, total }), tty);
        Assert.That(bars.Select(b => b.Percent), Is.Ordered, tty);
        Assert.That(bars[^1].Percent, Is.EqualTo(100), tty);
        Assert.That(tty, Does.Contain($"[{new string('#', 30)}] 100% {total}/{total}"));
        int cleared = tty.LastIndexOf("\r\x1b[K", StringComparison.Ordinal), summary = tty.IndexOf($"load: aliases: {total} entries from", StringComparison.Ordinal);
        Assert.That(cleared, Is.GreaterThan(tty.LastIndexOf("100%", StringComparison.Ordinal)), "the bar is cleared");
        Assert.That(summary, Is.GreaterThan(cleared), "then the summary");

        var (code, stdout, stderr) = Run("--config", ini, "load", "aliases", src);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout + stderr, Does.Not.Contain("\r").And.Not.Contain("%"));
        Assert.That(stdout, Does.StartWith($"load: aliases: {total} entries from"));
    }

    [Test]
    public void BadLine_StopsWithFileAndLine_AndWritesNothing()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        var ini = Ini(LmdbCf);
        var postfix = new Postfix(_dir.Path);
        Source("kept old\n", "seed");
        postfix.PostmapChecked(["lmdb:" + _dir.File("seed")]);
        File.Copy(_dir.File("seed.lmdb"), _dir.File("aliases.lmdb"));
        var src = Source("a@example.com 1\nb@example.com 2\n# comment\n\nnovalue\nc@example.com 3\n");

        var (code, stdout, stderr) = Run("--config", ini, "load", "--warm", "aliases", src);

        Assert.That(code, Is.EqualTo(65), stderr);
        Assert.That(stderr, Does.Contain($"{src}:5: expected format: key whitespace value"));
        Assert.That(stdout, Is.Empty);
        Assert.That(postfix.Dump("lmdb:" + _dir.File("aliases")), Is.EqualTo(new[] { "kept\told" }), "the backup is untouched");
        Assert.That(_mc.Get("a@example.com"), Is.Null, "memcached is untouched");
    }

    [Test]
    public async Task SkipBad_LoadsTheOtherLines_AndListsTheBadOnes()
    {
        var ini = Ini(LmdbCf);
        var src = Source("a@example.com 1\nnovalue\nb@example.com 2\n\"unbalanced key 3\nc@example.com 3\n");

        var (code, stdout, stderr) = Run("--config", ini, "load", "--skip-bad", "aliases", src);

        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("3 entries").And.Contain(
            $"2 bad line(s) skipped: {src}:2: expected format: key whitespace value; {src}:4: unbalanced '\"'"));
        Assert.That(await NotFoundByQuery(ini, [("a@example.com", "1"), ("b@example.com", "2"), ("c@example.com", "3")]), Is.Empty);
    }

    [Test]
    public void ContinuationLinesCommentsAndDuplicates_AreReadAsPostmapReadsThem()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        // Differential: the same source through postmap(1) and through load must give equal databases.
        const string text =
            "# a comment\n" +
            "first@example.com  one,\n" +
            "\ttwo,\n" +
            "  # an indented comment inside the logical line is skipped\n" +
            "\n" +
            "   three   \n" +
            "Second@Example.COM\tvalue with  inner   spaces  \n" +
            "third@example.com\tx\r\n" +
            "alias: record in alias format\n" +
            "SECOND@example.com duplicate: postmap keeps the first\n" +
            "last@example.com\tend\n" +
            "\tcontinued last line";
        var ini = Ini(LmdbCf);
        var src = Source(text);
        Source(text, "reference");
        var postfix = new Postfix(_dir.Path);
        postfix.PostmapChecked(["lmdb:" + _dir.File("reference")]);

        var (code, stdout, stderr) = Run("--config", ini, "load", "aliases", src);

        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain($"{src}:10: duplicate entry \"SECOND@example.com\" (first at line 7)"));
        Assert.That(stdout, Does.Contain("5 entries").And.Contain("1 duplicate(s) ignored"));
        var loaded = postfix.Dump("lmdb:" + _dir.File("aliases"));
        Assert.That(loaded, Is.EqualTo(postfix.Dump("lmdb:" + _dir.File("reference"))));
        Assert.That(loaded, Does.Contain("first@example.com\tone,\ttwo,   three"));
    }

    [Test]
    public void SameLoadAgain_AfterAPartialLoad_GivesTheSameDatabase()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        var ini = Ini(LmdbCf);
        var entries = Entries(12_000);
        // An interrupted load left the first batches (and an older value) behind.
        var partial = Source(SourceText(entries.Take(5000).Select((e, i) => i == 3 ? (e.Key, "stale") : e)), "partial");
        Assert.That(Run("--config", ini, "load", "aliases", partial).Code, Is.EqualTo(0));
        var src = Source(SourceText(entries));

        Assert.That(Run("--config", ini, "load", "aliases", src).Code, Is.EqualTo(0));
        var postfix = new Postfix(_dir.Path);
        var afterResume = postfix.Dump("lmdb:" + _dir.File("aliases"));
        Assert.That(Run("--config", ini, "load", "aliases", src).Code, Is.EqualTo(0));

        Assert.That(afterResume, Has.Length.EqualTo(12_000));
        Assert.That(afterResume, Does.Contain($"user3@example.com\t{entries[3].Value}"));
        Assert.That(postfix.Dump("lmdb:" + _dir.File("aliases")), Is.EqualTo(afterResume));
    }

    [Test]
    public void TexthashBackup_IsRefused_WithAClearMessage()
    {
        _dir.File("static.txt", "a@example.com 1\n");
        var ini = Ini("backup = texthash:static.txt\n");
        var src = Source("b@example.com 2\n");

        var (code, _, stderr) = Run("--config", ini, "load", "aliases", src);

        Assert.That(code, Is.EqualTo(78), stderr);
        Assert.That(stderr, Does.Contain("load: map aliases: backup texthash:static.txt is read-only; load writes lmdb: backups only"));
    }

    [Test]
    public void MissingFile_ExitsNoInput()
    {
        var ini = Ini(LmdbCf);
        var (code, _, stderr) = Run("--config", ini, "load", "aliases", _dir.File("nonexistent"));
        Assert.That(code, Is.EqualTo(66), stderr);
        Assert.That(stderr, Does.Contain("load: cannot read"));
    }
}
