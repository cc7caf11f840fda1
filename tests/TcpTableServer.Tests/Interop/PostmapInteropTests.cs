using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// End to end: our server binary, a real memcached, and real Postfix (`postmap -q`)
/// as the client over both socketmap: and tcp:. Vector ids name the spec behaviour checked.
/// </summary>
[TestFixture, Category("Interop")]
[NonParallelizable]
public sealed class PostmapInteropTests
{
    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private ServerProcess _server = null!;
    private Postfix _postfix = null!;
    private int _socketmapPort, _tcpAliases, _tcpBacked, _tcpDown;
    private string _downBackedSocketmap = null!;

    private string Socketmap(string map) => $"socketmap:inet:127.0.0.1:{_socketmapPort}:{map}";
    private static string Tcp(int port) => $"tcp:127.0.0.1:{port}";

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        _postfix = new Postfix(_dir.Path);
        _socketmapPort = FreePort.Next();
        _tcpAliases = FreePort.Next();
        _tcpBacked = FreePort.Next();
        _tcpDown = FreePort.Next();
        int down = FreePort.Closed();

        _dir.File("backup", "user@example.com from-backup\nother@example.com other-backup\n");
        _dir.File("aliases.cf", $"memcache = {_mc.Endpoint}\nkey_format = aliases:%s\n");
        _dir.File("backed.cf", $"memcache = {_mc.Endpoint}\nkey_format = backed:%s\nbackup = texthash:{_dir["backup"]}\nttl = 600\nflags = 7\n");
        _dir.File("downbk.cf", $"memcache = inet:127.0.0.1:{down}\nkey_format = aliases:%s\nbackup = texthash:{_dir["backup"]}\n");
        _dir.File("down.cf", $"memcache = inet:127.0.0.1:{down}\n");
        var ini = _dir.File("server.ini", $"""
            [server]
            socketmap = inet:127.0.0.1:{_socketmapPort}
            ; as this fixture's Postfix (main.cf smtputf8_enable = no): ASCII folding (V07) in every map
            smtputf8_enable = no

            [maps:aliases]
            config = aliases.cf
            tcp = inet:127.0.0.1:{_tcpAliases}
            allow_put = yes

            [maps:backed]
            config = backed.cf
            tcp = inet:127.0.0.1:{_tcpBacked}

            [maps:downbk]
            config = downbk.cf

            [maps:down]
            config = down.cf
            tcp = inet:127.0.0.1:{_tcpDown}
            """);
        _downBackedSocketmap = Socketmap("downbk");
        _server = ServerProcess.Serve(ini, _socketmapPort, _tcpAliases, _tcpBacked, _tcpDown);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    private Postfix.Result Q(string key, string table) => _postfix.Query(key, table);

    [Test]
    public void V01_Hit_OverSocketmapAndTcp()
    {
        _mc.Set("aliases:user@example.com", "alice@example.org");
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
        {
            var r = Q("user@example.com", table);
            Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, "alice@example.org\n")), $"{table}: {r.Stderr}");
        }
    }

    [Test]
    public void V02_Miss_ExitsOne_OverSocketmapAndTcp()
    {
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
        {
            var r = Q("nobody-v02@example.com", table);
            Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((1, "")), $"{table}: {r.Stderr}");
        }
    }

    [Test]
    public void V03_MixedCaseKey_FoldedByTheServer()
    {
        _mc.Set("aliases:mixed-v03@example.com", "folded");
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
            Assert.That(Q("Mixed-V03@Example.COM", table).Stdout, Is.EqualTo("folded\n"), table);
    }

    [Test]
    public void V06_V08_PercentSpaceTabInKeysAndValues_SurviveBothEncodings()
    {
        _mc.Set("aliases:100%-v06@example.com", "a b\t100%");
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
        {
            var r = Q("100%-V06@example.com", table);
            Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, "a b\t100%\n")), $"{table}: {r.Stderr}");
        }
    }

    [Test]
    public void V07_Utf8Key_AsciiFoldingOnly()
    {
        _mc.Set("aliases:j\u00c3\u0096rg-v07@example.com", "joerg");
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
            Assert.That(Q("JÖRG-v07@example.com", table).Stdout,
                Is.EqualTo("joerg\n"), table);
    }

    [Test]
    public void V05_KeyWithSpace_NotFound_NoCacheTraffic()
    {
        // (memcached itself refuses keys with spaces, so nothing can be cached under it)
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
            Assert.That(Q("john smith@example.com", table).ExitCode, Is.EqualTo(1), table);
    }

    [Test]
    public void V14_BackupHit_WrittenBackWithFlagsAndTtl_OverBothProtocols()
    {
        foreach (var (table, key) in new[] { (Socketmap("backed"), "User@Example.com"), (Tcp(_tcpBacked), "Other@Example.com") })
        {
            var lower = key.ToLowerInvariant();
            Assert.That(_mc.Get("backed:" + lower), Is.Null, "precondition: not cached");
            var r = Q(key, table);
            Assert.That(r.ExitCode, Is.EqualTo(0), r.Stderr);
            var cached = _mc.Get("backed:" + lower);
            Assert.That(cached, Is.Not.Null, $"{table}: written back");
            Assert.That(cached!.Value.Flags, Is.EqualTo(7));
            Assert.That(r.Stdout, Is.EqualTo(cached.Value.Value + "\n"));
        }
    }

    [Test]
    public void V18_V19_MemcachedDown_BackupAnswersKeepFlowing()
    {
        var hit = Q("user@example.com", _downBackedSocketmap);
        Assert.That((hit.ExitCode, hit.Stdout), Is.EqualTo((0, "from-backup\n")), hit.Stderr);
        var miss = Q("nobody@example.com", _downBackedSocketmap);
        Assert.That(miss.ExitCode, Is.EqualTo(1), "V19: the memcached error is masked by the backup miss");
    }

    [Test]
    public void V17_MemcachedDown_NoBackup_TemporaryError_OverBothProtocols()
    {
        foreach (var table in new[] { Socketmap("down"), Tcp(_tcpDown) })
        {
            AssertQueryError(Q("user@example.com", table), table);
        }
    }

    [Test]
    public void S13_UnknownMap_IsAnErrorForPostfix()
    {
        var r = Q("user@example.com", Socketmap("Aliases"));
        AssertQueryError(r, "S14: map names are case-sensitive");
        Assert.That(r.Stderr, Does.Contain("permanent error: unknown-map"));
    }

    [Test]
    public void S18_S10_GarbageOnEitherPort_NextConnectionIsServed()
    {
        _mc.Set("aliases:garbage@example.com", "still-serving");
        // socketmap: a framing error closes the connection without a reply (S18)
        Assert.That(RawSocket.Exchange(_socketmapPort, "xx:garbage,,,\n"), Is.Empty);
        // tcp: a garbage line gets 400 bad-request and the connection stays usable (S04)
        Assert.That(RawSocket.Exchange(_tcpAliases, "HELLO there\n"), Is.EqualTo("400 bad-request\n"));
        foreach (var table in new[] { Socketmap("aliases"), Tcp(_tcpAliases) })
            Assert.That(Q("garbage@example.com", table).Stdout, Is.EqualTo("still-serving\n"), table);
    }

    [Test]
    public void S12_TcpPut_WhenAllowed_UpdatesMemcached()
    {
        Assert.That(RawSocket.Exchange(_tcpAliases, "put Put-S12@Example.com a%20b\n"), Is.EqualTo("200 ok\n"));
        Assert.That(_mc.Get("aliases:put-s12@example.com"), Is.EqualTo(("a b", 0)));
        Assert.That(RawSocket.Exchange(_tcpBacked, "put k v\n"), Is.EqualTo("400 bad-request\n"), "S11: put is off by default");
    }

    /// <summary>
    /// A lookup error (temporary or configuration) makes `postmap -q` die with
    /// "fatal: table ...: query error" (exit 1, like not found, so the text tells them apart).
    /// </summary>
    private static void AssertQueryError(Postfix.Result r, string what)
    {
        Assert.That(r.ExitCode, Is.Not.EqualTo(0), what);
        Assert.That(r.Stderr, Does.Contain("query error"), what);
    }
}
