using System.Collections.Concurrent;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The lmdb backup under hostile operation, against the real server process (a failure here
/// would abort or crash the process, so it must not run inside the test host), a real
/// memcached and Postfix's own postmap: two maps on one file, postmap -i writing the same
/// file, the file truncated, replaced or removed while serving, kill -9 during writes.
/// Every acknowledged put ("200") must be in the file afterwards (read with postmap -s).
/// </summary>
[TestFixture, Category("Interop")]
public sealed class LmdbServerSafetyTests
{
    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private Postfix _postfix = null!;

    [SetUp]
    public void SetUp()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        _postfix = new Postfix(_dir.Path);
    }

    [TearDown]
    public void TearDown()
    {
        _mc?.Dispose();
        _dir?.Dispose();
    }

    private string Lmdb(string name) => "lmdb:" + _dir.File(name);

    /// <summary>An lmdb file made by Postfix (postmap), with the given "key value" lines.</summary>
    private void Postmap(string name, string lines = "")
    {
        _dir.Write(name, lines);
        _postfix.PostmapChecked([Lmdb(name)]);
    }

    /// <summary>A server with one tcp listener (allow_put) per map; each map's backup is given.</summary>
    private (ServerProcess Server, int[] Ports) Serve(params (string Map, string Backup)[] maps)
    {
        var ports = maps.Select(_ => FreePort.Next()).ToArray();
        var ini = new System.Text.StringBuilder($"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n");
        for (int i = 0; i < maps.Length; i++)
        {
            _dir.Write($"{maps[i].Map}.cf", $"memcache = {_mc.Endpoint}\nkey_format = {maps[i].Map}:%s\nbackup = {maps[i].Backup}\n");
            ini.Append($"\n[maps:{maps[i].Map}]\nconfig = {maps[i].Map}.cf\ntcp = inet:127.0.0.1:{ports[i]}\nallow_put = yes\n");
        }
        return (ServerProcess.Serve(_dir.Write("server.ini", ini.ToString()), ports), ports);
    }

    /// <summary>Puts keys PREFIX0..PREFIX(n-1) over one connection; returns the acknowledged ones.</summary>
    private static List<string> PutAll(int port, string prefix, int n, ConcurrentBag<string> replies)
    {
        var acked = new List<string>();
        using var c = new TcpLineClient(port);
        for (int i = 0; i < n; i++)
        {
            string? reply = c.Put($"{prefix}{i}", $"value-{prefix}{i}");
            replies.Add(reply ?? "(connection broken)");
            if (reply is null) break;
            if (reply.StartsWith("200 ", StringComparison.Ordinal)) acked.Add($"{prefix}{i}");
        }
        return acked;
    }

    private HashSet<string> Entries(string name) => [.. _postfix.Dump(Lmdb(name))];

    /// <summary>
    /// Two maps naming one lmdb file, concurrent puts on both: each map opened its own
    /// MDB_NOLOCK environment and the process aborted (LMDB assertion mdb.c:2433). Now one
    /// shared instance: every put is acknowledged and in the file.
    /// </summary>
    [Test]
    public void TwoMapsOnOneFile_ConcurrentPuts_NoAbort_EveryAcknowledgedPutInTheFile()
    {
        Postmap("shared");
        var (server, ports) = Serve(("a", Lmdb("shared")), ("b", Lmdb("shared")));
        using (server)
        {
            var replies = new ConcurrentBag<string>();
            var clients = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
                PutAll(ports[i % 2], $"{(i % 2 == 0 ? "a" : "b")}{i}-", 150, replies))).ToArray();
            Task.WaitAll(clients);
            Assert.That(server.HasExited, Is.False, server.Stderr);
            Assert.That(replies.Where(r => !r.StartsWith("200 ", StringComparison.Ordinal)), Is.Empty, server.Stderr);
            server.Terminate();
            var entries = Entries("shared");
            var acked = clients.SelectMany(t => t.Result).ToList();
            Assert.That(acked, Has.Count.EqualTo(8 * 150));
            Assert.That(acked.Where(k => !entries.Contains($"{k}\tvalue-{k}")), Is.Empty, "acknowledged puts missing from the file");
        }
    }

    /// <summary>
    /// A Postfix process writes the same file while the server writes it: Postfix's own
    /// dict_update with DICT_FLAG_LOCK (the code proxymap and verify run, driven through
    /// Debian's libpostfix by <c>PostfixDictDriver</c>), which takes an fcntl F_WRLCK around
    /// each update. The server took neither LMDB's nor Postfix's lock (LMDB assertion
    /// mdb.c:2433, acknowledged puts lost). Now it takes Postfix's lock too: nothing crashes,
    /// every acknowledged put and every Postfix update is in the file.
    /// (<c>postmap -i lmdb:</c> itself takes no lock at all, see docs/reliability.md.)
    /// </summary>
    [Test]
    public void PostfixLockingWriter_WritesTheSameFile_NoCrash_NoLostWrite()
    {
        Assume.That(File.Exists("/usr/lib/postfix/libpostfix-util.so"), "Postfix's libraries are not installed");
        Postmap("shared", "seed value\n");
        var (server, ports) = Serve(("a", Lmdb("shared")));
        using (server)
        {
            var replies = new ConcurrentBag<string>();
            var clients = Enumerable.Range(0, 2).Select(i => Task.Run(() => PutAll(ports[0], $"srv{i}-", 400, replies))).ToArray();
            var postfixKeys = new List<string>();
            var postfix = Task.Run(() =>
            {
                for (int run = 0; run < 20 && !clients.All(c => c.IsCompleted); run++)
                {
                    var keys = Enumerable.Range(0, 100).Select(i => $"pf{run}-{i}").ToList();
                    var statuses = PostfixDictUpdate(Lmdb("shared"), keys);
                    Assert.That(statuses, Is.EqualTo(keys.Select(_ => "0")), "Postfix's dict_update statuses");
                    postfixKeys.AddRange(keys);
                }
            });
            Task.WaitAll([.. clients, postfix]);
            Assert.That(server.HasExited, Is.False, server.Stderr);
            server.Terminate();
            var entries = Entries("shared");
            var acked = clients.SelectMany(t => t.Result).ToList();
            Assert.That(acked, Has.Count.EqualTo(800), string.Join(", ", replies.Where(r => !r.StartsWith("200 ", StringComparison.Ordinal)).Distinct()));
            Assert.That(postfixKeys, Is.Not.Empty);
            Assert.That(acked.Concat(postfixKeys).Where(k => !entries.Contains($"{k}\tvalue-{k}")), Is.Empty, "writes missing from the file");
        }
    }

    /// <summary>Postfix's dict_update(KEY, "value-KEY") for each key, with DICT_FLAG_LOCK; one status each.</summary>
    private string[] PostfixDictUpdate(string table, IEnumerable<string> keys)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { typeof(TcpTableServer.Differential.PostfixDictDriver).Assembly.Location, "--postfix-dict", _postfix.ConfigDir, table })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        p.StandardInput.Write(string.Concat(keys.Select(k => $"u\t{k}\tvalue-{k}\n")));
        p.StandardInput.Close();
        Assert.That(p.WaitForExit(60_000), Is.True, "Postfix dict driver still running");
        Assert.That(p.ExitCode, Is.Zero, stderr.Result);
        return stdout.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>
    /// The file truncated while serving (the fault guarded: LMDB read beyond the end of the file
    /// through its memory map and the process died of SIGBUS): the shrink is seen before the
    /// transaction: temporary errors ("400"), the server lives, and once a sound file is put
    /// at the path (a new inode) it is reopened and answers again.
    /// </summary>
    [Test]
    public void Truncated_WhileServing_TemporaryErrors_NoCrash_ThenReopened()
    {
        Postmap("shared", string.Concat(Enumerable.Range(0, 3000).Select(i => $"key{i} {new string('v', 200)}{i}\n")));
        var (server, ports) = Serve(("a", Lmdb("shared")));
        using (server)
        using (var c = new TcpLineClient(ports[0]))
        {
            Assert.That(c.Get("key1"), Is.EqualTo($"200 {new string('v', 200)}1"));
            using (var f = new FileStream(_dir.File("shared.lmdb"), FileMode.Open, FileAccess.Write))
                f.SetLength(3 * 4096);
            for (int i = 2; i < 40; i++)                        // keys memcached has not seen
                Assert.That(c.Get($"key{i * 61}"), Does.StartWith("400 "), server.Stderr);
            Assert.That(c.Put("new", "x"), Does.StartWith("400 "), "no write into a truncated file");
            Assert.That(server.HasExited, Is.False, server.Stderr);

            Postmap("fresh", "key2999 fresh\n");
            File.Move(_dir.File("fresh.lmdb"), _dir.File("shared.lmdb"), overwrite: true);
            Thread.Sleep(1100);                                 // reopen attempts: once a second
            Assert.That(c.Get("key2999"), Is.EqualTo("200 fresh"), server.Stderr);
        }
    }

    /// <summary>
    /// The file overwritten with garbage while serving (same inode, same size): LMDB followed
    /// garbage meta pages and the process died of SIGSEGV. Now the meta pages are checked
    /// (pread) before each transaction: temporary errors, the server lives.
    /// </summary>
    [Test]
    public void OverwrittenWithGarbage_WhileServing_TemporaryErrors_NoCrash()
    {
        Postmap("shared", string.Concat(Enumerable.Range(0, 500).Select(i => $"key{i} value{i}\n")));
        var (server, ports) = Serve(("a", Lmdb("shared")));
        using (server)
        using (var c = new TcpLineClient(ports[0]))
        {
            Assert.That(c.Get("key1"), Is.EqualTo("200 value1"));
            long length = new FileInfo(_dir.File("shared.lmdb")).Length;
            var garbage = new byte[length];
            new Random(7).NextBytes(garbage);
            using (var f = new FileStream(_dir.File("shared.lmdb"), FileMode.Open, FileAccess.Write))
                f.Write(garbage);
            for (int i = 2; i < 40; i++)
                Assert.That(c.Get($"key{i * 11}"), Does.StartWith("400 "), server.Stderr);
            Assert.That(c.Put("new", "x"), Does.StartWith("400 "));
            Assert.That(server.HasExited, Is.False, server.Stderr);
        }
    }

    /// <summary>
    /// The file removed while serving: puts were acknowledged into the unlinked inode and lost.
    /// Now a put gets a temporary error; once a file is back at the path it is opened and the
    /// next put lands in it.
    /// </summary>
    [Test]
    public void Removed_WhileServing_PutsFail_NeverIntoTheUnlinkedFile_ThenReopened()
    {
        Postmap("shared", "seed value\n");
        var (server, ports) = Serve(("a", Lmdb("shared")));
        using (server)
        using (var c = new TcpLineClient(ports[0]))
        {
            Assert.That(c.Put("before", "1"), Does.StartWith("200 "));
            File.Delete(_dir.File("shared.lmdb"));
            Assert.That(c.Put("during", "2"), Does.StartWith("400 "), "a put into a removed file");
            Assert.That(c.Get("seed"), Does.StartWith("400 "));

            Postmap("fresh", "other value\n");
            File.Move(_dir.File("fresh.lmdb"), _dir.File("shared.lmdb"));
            Thread.Sleep(1100);
            Assert.That(c.Put("after", "3"), Does.StartWith("200 "), server.Stderr);
            Assert.That(server.HasExited, Is.False, server.Stderr);
        }
        Assert.That(Entries("shared"), Is.EquivalentTo(new[] { "after\t3", "other\tvalue" }));
    }

    /// <summary>
    /// Kept guarantee: kill -9 during a stream of puts loses no acknowledged put (each is
    /// committed with LMDB's fdatasync before "200"), and postmap opens the file afterwards.
    /// </summary>
    [Test]
    public void Kill9_DuringPuts_NoAcknowledgedPutLost_FileOpensWithPostmap()
    {
        Postmap("shared");
        var (server, ports) = Serve(("a", Lmdb("shared")));
        var acked = new ConcurrentBag<string>();
        using (server)
        {
            var clients = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
            {
                using var c = new TcpLineClient(ports[0]);
                for (int n = 0; n < 100_000; n++)
                {
                    string? reply = c.Put($"k{i}-{n}", $"v{n}");
                    if (reply is null) return;
                    if (reply.StartsWith("200 ", StringComparison.Ordinal)) acked.Add($"k{i}-{n}\tv{n}");
                }
            })).ToArray();
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (acked.Count < 400 && DateTime.UtcNow < deadline) Thread.Sleep(10);
            server.KillHard();
            Task.WaitAll(clients);
        }
        Assert.That(acked.Count, Is.GreaterThanOrEqualTo(400));
        var entries = Entries("shared");
        Assert.That(acked.Where(e => !entries.Contains(e)), Is.Empty, "acknowledged puts lost by kill -9");
    }

    /// <summary>
    /// Kept guarantee: a full disk never acknowledges a failed write. The database lives on a
    /// 1 MiB tmpfs; puts of 4 KiB values run until the commits fail: each failed put answers
    /// "400", every "200" is in the file afterwards, the server lives, and once space is freed
    /// puts succeed again (a failed meta write leaves LMDB in MDB_PANIC: the file is reopened).
    /// </summary>
    [Test]
    public void DiskFull_FailedWritesAreNeverAcknowledged_AndWritesResumeWhenSpaceIsFreed()
    {
        string mount = _dir.File("small");
        Directory.CreateDirectory(mount);
        var m = Run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount);
        if (m.Code != 0) Assert.Ignore($"cannot mount a tmpfs here (root needed): {m.Output}");
        try
        {
            File.WriteAllText(Path.Combine(mount, "db"), "");
            _postfix.PostmapChecked(["lmdb:" + Path.Combine(mount, "db")]);
            File.WriteAllBytes(Path.Combine(mount, "filler"), new byte[256 * 1024]);
            var (server, ports) = Serve(("a", "lmdb:" + Path.Combine(mount, "db")));
            var acked = new List<string>();
            int failed = 0;
            using (server)
            using (var c = new TcpLineClient(ports[0]))
            {
                string value = new('v', 4096);
                for (int i = 0; i < 400 && failed < 20; i++)
                {
                    string? reply = c.Put($"k{i}", value);
                    Assert.That(reply, Is.Not.Null, server.Stderr);
                    if (reply!.StartsWith("200 ", StringComparison.Ordinal)) acked.Add($"k{i}");
                    else
                    {
                        Assert.That(reply, Does.StartWith("400 "));
                        failed++;
                    }
                }
                Assert.That(failed, Is.GreaterThan(0), "the disk never filled up");
                Assert.That(acked, Is.Not.Empty);

                File.Delete(Path.Combine(mount, "filler"));
                Thread.Sleep(1100);                             // reopen attempts: once a second
                Assert.That(c.Put("after", "freed"), Does.StartWith("200 "), server.Stderr);
                acked.Add("after");
                Assert.That(server.HasExited, Is.False, server.Stderr);
                server.Terminate();
            }
            var entries = _postfix.Dump("lmdb:" + Path.Combine(mount, "db")).Select(e => e.Split('\t')[0]).ToHashSet();
            Assert.That(acked.Where(k => !entries.Contains(k)), Is.Empty, "acknowledged puts missing");
        }
        finally
        {
            Run("umount", "-l", mount);
        }
    }

    private static (int Code, string Output) Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = System.Diagnostics.Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }
}
