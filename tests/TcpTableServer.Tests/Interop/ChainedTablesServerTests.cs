using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Chained tables with two real server processes of ours: a central server (memcached plus a
/// texthash backup) and a local one whose backups are <c>socketmap:</c> and <c>tcp:</c>
/// clients of the central, or a nested <c>memcache:</c> map; a real memcached for each.
/// Postfix's own postmap -q through the local server agrees with postmap -q through the
/// central one.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class ChainedTablesServerTests
{
    private TempDir _dir = null!;
    private MemcachedProcess _central = null!, _local = null!;
    private Postfix _postfix = null!;
    private int _cSocketmap, _cTcp, _lSocketmap;
    private readonly Dictionary<string, int> _lTcp = [];

    private static readonly (string Key, string Value)[] Aliases =
    [
        ("user@example.com", "user@mail.example.com"),
        ("Mixed@Example.COM", "mixed value  with spaces 100%"),
        ("j\u00c3\u00b6rg@example.de", "\u00c3\u00a9t\u00c3\u00a9@example.de"),
        ("info@example.com", "a@x, b@y"),
        ("late@example.com", "arrives late"),
        ("again@example.com", "after the restart"),
    ];

    [SetUp]
    public void SetUp()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _dir = new TempDir();
        _central = MemcachedProcess.Start();
        _local = MemcachedProcess.Start();
        _postfix = new Postfix(_dir.Path);
        _cSocketmap = FreePort.Next();
        _cTcp = FreePort.Next();
        _lSocketmap = FreePort.Next();
        _lTcp.Clear();

        _dir.Write("central/aliases.txt", string.Concat(Aliases.Select(a => $"{a.Key} {a.Value}\n")));
        _dir.Write("central/aliases.cf", $"memcache = {_central.Endpoint}\nkey_format = c:%s\nbackup = texthash:aliases.txt\n");
        // memcached unreachable and no backup: every lookup is a temporary error (spec 3.4)
        _dir.Write("central/broken.cf", $"memcache = inet:127.0.0.1:{FreePort.Next()}\nmax_try = 1\n");
        _dir.Write("central/server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{_cSocketmap}\n\n[maps:aliases]\nconfig = aliases.cf\ntcp = inet:127.0.0.1:{_cTcp}\n\n[maps:broken]\nconfig = broken.cf\n");

        LocalMap("viasock", $"socketmap:inet:127.0.0.1:{_cSocketmap}:aliases");
        LocalMap("viatcp", $"tcp:127.0.0.1:{_cTcp}");
        LocalMap("viabroken", $"socketmap:inet:127.0.0.1:{_cSocketmap}:broken");
        LocalMap("viaunknown", $"socketmap:inet:127.0.0.1:{_cSocketmap}:nosuchmap");
        LocalMap("nested", "memcache:inner.cf");
        _dir.Write("local/inner.cf", $"memcache = {_central.Endpoint}\nkey_format = inner:%s\nbackup = texthash:../central/aliases.txt\n");
        var ini = new StringBuilder($"[server]\nsocketmap = inet:127.0.0.1:{_lSocketmap}\n");
        foreach (var (map, port) in _lTcp)
            ini.Append($"\n[maps:{map}]\nconfig = {map}.cf\ntcp = inet:127.0.0.1:{port}\n");
        _dir.Write("local/server.ini", ini.ToString());
    }

    private void LocalMap(string map, string backup)
    {
        _dir.Write($"local/{map}.cf", $"memcache = {_local.Endpoint}\nkey_format = {map}:%s\nbackup = {backup}\n");
        _lTcp[map] = FreePort.Next();
    }

    [TearDown]
    public void TearDown()
    {
        _central?.Dispose();
        _local?.Dispose();
        _dir?.Dispose();
    }

    private ServerProcess Central() => ServerProcess.Serve(_dir.File("central/server.ini"), _cTcp, _cSocketmap);

    private ServerProcess Local() => ServerProcess.Serve(_dir.File("local/server.ini"), [.. _lTcp.Values, _lSocketmap]);

    private string? Get(int port, string key)
    {
        using var c = new TcpLineClient(port);
        return c.Get(key);
    }

    /// <summary>
    /// The local server answers exactly what the central one has, through a socketmap and a
    /// tcp backup, for hits (mixed case, UTF-8, spaces, '%') and misses; the answers are
    /// written back to the local memcached; postmap -q through the local server equals
    /// postmap -q through the central one.
    /// </summary>
    [Test]
    public void LocalFrontsCentral_SocketmapAndTcpBackups_AnswerWhatCentralHas()
    {
        using var central = Central();
        using var local = Local();
        string[] keys = [.. Aliases.Take(4).Select(a => a.Key), "USER@EXAMPLE.COM", "nobody@example.com", "100%@example.com"];
        foreach (var key in keys)
        {
            string? expected = Get(_cTcp, key);
            Assert.That(expected, Does.StartWith("200 ").Or.StartWith("500 "), key);
            Assert.That(Get(_lTcp["viasock"], key), Is.EqualTo(expected), "socketmap backup: " + key);
            Assert.That(Get(_lTcp["viatcp"], key), Is.EqualTo(expected), "tcp backup: " + key);
        }
        Assert.That(_local.Get("viasock:user@example.com")?.Value, Is.EqualTo("user@mail.example.com"), "write-back to the local memcached");
        Assert.That(_local.Get("viatcp:mixed@example.com")?.Value, Is.EqualTo("mixed value  with spaces 100%"));
        using (var sm = new SocketmapClient(_lSocketmap))
            Assert.That(sm.Lookup("viasock", "Info@Example.com"), Is.EqualTo("OK a@x, b@y"));
        foreach (var key in new[] { "Mixed@Example.COM", "user@example.com", "nobody@example.com" })
            Assert.That(_postfix.Value(key, $"tcp:127.0.0.1:{_lTcp["viatcp"]}"),
                Is.EqualTo(_postfix.Value(key, $"tcp:127.0.0.1:{_cTcp}")), "postmap -q " + key);
        Assert.That(central.HasExited || local.HasExited, Is.False);
    }

    /// <summary>
    /// A central TEMP stays temporary (never not-found): the local answers 400 / TEMP. A
    /// central PERM (unknown map name) is dict_sockmap's DICT_ERR_CONFIG: the local answers
    /// 400 configuration-error / PERM.
    /// </summary>
    [Test]
    public void CentralTemp_LocalTemp_CentralPerm_LocalConfigError()
    {
        using var central = Central();
        using var local = Local();
        Assert.That(Get(_lTcp["viabroken"], "user@example.com"), Is.EqualTo("400 temporary-failure"));
        using (var sm = new SocketmapClient(_lSocketmap))
            Assert.That(sm.Lookup("viabroken", "user@example.com"), Does.StartWith("TEMP "));
        Assert.That(Get(_lTcp["viaunknown"], "user@example.com"), Is.EqualTo("400 configuration-error"));
        Assert.That(local.WaitForOutput("socketmap server permanent error"), Is.True, local.Stderr);
    }

    /// <summary>
    /// Central down: a key the local memcached has not cached answers 400 (TEMP), never 500;
    /// a cached key still answers from the local memcached. Central back on the same ports:
    /// the local's broken persistent connections are replaced and the key is found.
    /// </summary>
    [Test]
    public void CentralDown_Temp_CentralBack_FoundAgain()
    {
        var central = Central();
        using var local = Local();
        Assert.That(Get(_lTcp["viasock"], "user@example.com"), Does.StartWith("200 "));
        Assert.That(Get(_lTcp["viatcp"], "user@example.com"), Does.StartWith("200 "));
        central.Terminate();
        central.Dispose();
        foreach (var map in new[] { "viasock", "viatcp" })
        {
            Assert.That(Get(_lTcp[map], "late@example.com"), Is.EqualTo("400 temporary-failure"), map);
            Assert.That(Get(_lTcp[map], "user@example.com"), Does.StartWith("200 "), map + ": cached locally");
        }
        using var again = Central();
        foreach (var map in new[] { "viasock", "viatcp" })
            Assert.That(Get(_lTcp[map], "again@example.com"), Is.EqualTo("200 after%20the%20restart"), map);
        Assert.That(local.HasExited, Is.False);
    }

    /// <summary>
    /// backup = memcache:inner.cf: a nested memcache map with its own memcached and backup;
    /// the answer is written back to both memcacheds.
    /// </summary>
    [Test]
    public void NestedMemcacheBackup_AnswersAndWritesBackBothLevels()
    {
        using var local = Local();
        Assert.That(Get(_lTcp["nested"], "Info@Example.COM"), Is.EqualTo("200 a@x,%20b@y"));
        Assert.That(Get(_lTcp["nested"], "nobody@example.com"), Does.StartWith("500 "));
        Assert.That(_central.Get("inner:info@example.com")?.Value, Is.EqualTo("a@x, b@y"));
        Assert.That(_local.Get("nested:info@example.com")?.Value, Is.EqualTo("a@x, b@y"));
    }

    /// <summary>A .cf whose backup is itself is refused at start with a clear error, not endless recursion.</summary>
    [Test]
    public void CfNamingItself_ServerRefusesToStart()
    {
        _dir.Write("local/nested.cf", $"memcache = {_local.Endpoint}\nbackup = memcache:nested.cf\n");
        using var local = ServerProcess.Start("--config", _dir.File("local/server.ini"));
        Assert.That(local.WaitForExit(), Is.Not.Zero);
        Assert.That(local.Stderr + local.Stdout, Does.Contain("comes back to itself"));
    }
}
