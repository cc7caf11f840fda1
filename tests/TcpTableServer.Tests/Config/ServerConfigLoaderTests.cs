using TcpTableServer.Tests.Support;
using TcpTableServer.Config;

namespace TcpTableServer.Tests.Config;

/// <summary>The server INI file: shape, overrides of .cf values, and errors with file:line.</summary>
public class ServerConfigLoaderTests
{
    private const string ExampleIni = """
        [server]
        ; socketmap listeners, comma-separated: inet:host:port, inet:[::1]:port, unix:/path
        socketmap = inet:127.0.0.1:9000
        [maps:aliases]
        ; a memcache_table(5) file, read unchanged (relative paths: from this INI's folder)
        config = aliases.cf
        ; optional tcp_table listener serving only this map
        tcp = inet:127.0.0.1:9001
        ; every memcache_table(5) parameter may also be given here directly; it overrides the .cf

        """;

    private const string ExampleCf = "memcache = inet:127.0.0.1:11211\nkey_format = aliases:%s\n# c\nttl = 600\n";

    private TempDir dir = null!;
    private ListLogger log = null!;

    [SetUp]
    public void SetUp()
    {
        dir = new TempDir();
        log = new ListLogger();
    }

    [TearDown]
    public void TearDown()
    {
        dir.Dispose();
        log.Dispose();
    }

    private string Ini => Path.Combine(dir.Path, "t.ini");

    private ServerDefinition Load(string ini)
    {
        dir.Write("t.ini", ini);
        return ServerConfigLoader.Load(Ini, log);
    }

    private ConfigException LoadFails(string ini) => Assert.Throws<ConfigException>(() => Load(ini))!;

    private static EndpointSpec Inet(string host, string port) => new(EndpointKind.Inet, host, port, "");

    [Test]
    public void ExampleIni_GivesExactDefinition()
    {
        string cf = dir.Write("aliases.cf", ExampleCf);
        var def = Load(ExampleIni);

        Assert.That(def.IniPath, Is.EqualTo(Ini));
        Assert.That(def.SocketmapListeners, Is.EqualTo(new[] { Inet("127.0.0.1", "9000") }));
        Assert.That(def.Options, Is.EqualTo(new ServerOptions(null, null, null, TimeSpan.FromSeconds(10))), "socketmap idle connections are never closed by default (Sendmail)");
        var map = def.Maps.Single();
        Assert.That(map.Name, Is.EqualTo("aliases"));
        Assert.That(map.BaseDirectory, Is.EqualTo(dir.Path));
        Assert.That(map.TcpListener, Is.EqualTo(Inet("127.0.0.1", "9001")));
        Assert.That(map.AllowPut, Is.False);
        Assert.That(map.Parameters, Is.EquivalentTo(new Dictionary<string, ConfigValue>
        {
            ["memcache"] = new("memcache", "inet:127.0.0.1:11211", cf, 1),
            ["key_format"] = new("key_format", "aliases:%s", cf, 2),
            ["ttl"] = new("ttl", "600", cf, 4),
        }));
        Assert.That(log.Warnings, Is.Empty);
    }

    [Test]
    public void IniParametersOverrideCfValues_WithIniFileAndLine()
    {
        dir.Write("sub/aliases.cf", ExampleCf);
        var def = Load("""
            [maps:aliases]
            config = sub/aliases.cf
            ttl = 60 ; not a comment
            fold_keys = no
            key_format = " %s"
            tcp = inet:127.0.0.1:9001
            allow_put = yes
            """);
        var map = def.Maps.Single();
        Assert.That(map.BaseDirectory, Is.EqualTo(Path.Combine(dir.Path, "sub")));
        Assert.That(map.Parameters["ttl"], Is.EqualTo(new ConfigValue("ttl", "60 ; not a comment", Ini, 3)));
        Assert.That(map.Parameters["fold_keys"], Is.EqualTo(new ConfigValue("fold_keys", "no", Ini, 4)));
        Assert.That(map.Parameters["key_format"], Is.EqualTo(new ConfigValue("key_format", " %s", Ini, 5)));
        Assert.That(map.Parameters["memcache"].File, Is.EqualTo(Path.Combine(dir.Path, "sub", "aliases.cf")));
        Assert.That(map.AllowPut, Is.True);
        Assert.That(def.SocketmapListeners, Is.Empty);
    }

    [Test]
    public void S3_3_Smtputf8Enable_ServerSectionIsTheDefault_AMapMayOverride()
    {
        var def = Load("""
            [maps:a]
            tcp = inet:127.0.0.1:9001

            [maps:b]
            tcp = inet:127.0.0.1:9002
            smtputf8_enable = yes

            [server]
            smtputf8_enable = NO
            """);
        Assert.That(def.Maps[0].Parameters["smtputf8_enable"], Is.EqualTo(new ConfigValue("smtputf8_enable", "no", Ini, 9)));
        Assert.That(def.Maps[1].Parameters["smtputf8_enable"], Is.EqualTo(new ConfigValue("smtputf8_enable", "yes", Ini, 6)));
        Assert.That(Load("[maps:a]\ntcp = inet:127.0.0.1:9001\n").Maps[0].Parameters, Does.Not.ContainKey("smtputf8_enable"),
            "not set anywhere: the map's own default (yes, as Postfix's)");
    }

    [Test]
    public void Spec64_UnknownCfNames_WarnedAndNotPassedOn()
    {
        dir.Write("a.cf", "tll = 60\nttl = 5\n");
        var def = Load("[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:9001\n");
        Assert.That(def.Maps[0].Parameters.Keys, Is.EqualTo(new[] { "ttl" }));
        Assert.That(log.Warnings.Single(), Does.Contain("a.cf:1: unknown memcache_table(5) parameter \"tll\""));
    }

    [Test]
    public void MapWithoutConfig_AllDefaults_ServerOptionsParsed()
    {
        var def = Load("""
            [server]
            socketmap = inet:127.0.0.1:9000, inet:[::1]:9000 unix:sock
            socketmap_idle_timeout = 45
            tcp_idle_timeout = 7200
            max_connections = 100
            shutdown_timeout = 0
            [maps:plain]
            """);
        Assert.That(def.SocketmapListeners, Is.EqualTo(new[]
        {
            Inet("127.0.0.1", "9000"), Inet("::1", "9000"),
            new EndpointSpec(EndpointKind.Unix, "", "", Path.Combine(dir.Path, "sock")),
        }));
        Assert.That(def.Options, Is.EqualTo(new ServerOptions(
            TimeSpan.FromSeconds(45), TimeSpan.FromSeconds(7200), 100, TimeSpan.Zero)));
        Assert.That(def.Maps.Single(), Is.EqualTo(def.Maps[0] with { Name = "plain", BaseDirectory = dir.Path, TcpListener = null, AllowPut = false }));
        Assert.That(def.Maps[0].Parameters, Is.Empty);
        Assert.That(log.Warnings, Is.Empty);
    }

    [Test]
    public void ListenerOptions_MaxConnectionsFollowsItsEndpoint()
    {
        var def = Load("""
            [server]
            socketmap = inet:127.0.0.1:9000 max_connections=5000, unix:sock,inet:[::1]:9000 max_connections=7
            [maps:a]
            tcp = inet:127.0.0.1:9001 max_connections=300
            """);
        Assert.That(def.SocketmapListeners.Select(l => (l.ToString(), l.MaxConnections)), Is.EqualTo(new (string, int?)[]
        {
            ("inet:127.0.0.1:9000", 5000), ($"unix:{Path.Combine(dir.Path, "sock")}", null), ("inet:[::1]:9000", 7),
        }));
        Assert.That(def.Maps[0].TcpListener!.MaxConnections, Is.EqualTo(300));
        Assert.That(def.Options.MaxConnections, Is.Null, "no [server] max_connections: the default from the descriptor limit");
    }

    [Test]
    public void Spec15_ShortTcpIdleTimeout_Warns()
    {
        var def = Load("[server]\nsocketmap = inet:127.0.0.1:9000\ntcp_idle_timeout = 60\n[maps:a]\n");
        Assert.That(def.Options.TcpIdleTimeout, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(log.Warnings.Single(), Does.Contain("t.ini:3: tcp_idle_timeout"));
    }

    [Test]
    public void Spec0_IniParameterValues_AreUtf8Octets()
    {
        File.WriteAllText(Ini, "[maps:a]\ntcp = inet:127.0.0.1:9001\nkey_format = \u00f6:%s\n");
        var def = ServerConfigLoader.Load(Ini, log);
        Assert.That(def.Maps[0].Parameters["key_format"].Value, Is.EqualTo("\u00c3\u00b6:%s"));
    }

    /// <summary>
    /// Spec 2.6 POLICY: socketmap idle connections are closed only under connection pressure,
    /// so the default socketmap_idle_timeout is "never" (null, the same as an explicit 0).
    /// Guards the old default of 60 s: it closed Sendmail's idle connection, and Sendmail's
    /// socket map client takes that EOF as a temporary failure without retrying
    /// (SendmailClientTests.Spec2_6_idle_timeout_0_and_the_default_keep_a_Sendmail_like_client_served_after_idling).
    /// </summary>
    [Test]
    public void Spec26_SocketmapIdleTimeout_DefaultsToNever_KeepsSendmailServed()
    {
        var omitted = Load("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\n");
        Assert.That(omitted.Options.SocketmapIdleTimeout, Is.Null, "left out: never (not 60 s)");
        var zero = Load("[server]\nsocketmap = inet:127.0.0.1:9000\nsocketmap_idle_timeout = 0\n[maps:a]\n");
        Assert.That(zero.Options.SocketmapIdleTimeout, Is.Null, "0 = never");
        Assert.That(log.Warnings, Is.Empty);
    }

    [Test]
    public void Spec26_ShortSocketmapIdleTimeout_Warns()
    {
        var def = Load("[server]\nsocketmap = inet:127.0.0.1:9000\nsocketmap_idle_timeout = 10\n[maps:a]\n");
        Assert.That(def.Options.SocketmapIdleTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
        Assert.That(log.Warnings.Single(), Does.Contain("t.ini:3: socketmap_idle_timeout"));
    }

    [Test]
    public void S14_MapNameCasePreserved()
    {
        var def = Load("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:Aliases]\n[maps:other]\n");
        Assert.That(def.Maps.Select(m => m.Name), Is.EqualTo(new[] { "Aliases", "other" }));
    }

    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a\n", 3, "missing ']'")]
    [TestCase("[server]\nsocketmap inet:127.0.0.1:9000\n[maps:a]\n", 2, "expected \"[section]\"")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\n = x\n", 3, "missing key name")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\nttl = 1\n; c\nTTL = 2\n", 6, "duplicate key \"TTL\" (first at line 4")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\nsocketmap_idle = 5\n[maps:a]\n", 3, "unknown key \"socketmap_idle\" in [server]")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\ntll = 5\n", 4, "unknown key \"tll\" in [maps:a]")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\nTtl = 5\n", 4, "unknown key \"Ttl\"")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[map:a]\n", 3, "unknown section [map:a]")]
    [TestCase("socketmap = inet:127.0.0.1:9000\n[maps:a]\n", 1, "outside any section")]
    [TestCase("[server]\nsocketmap = 127.0.0.1:9000\n[maps:a]\n", 2, "socketmap: bad listener endpoint")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:99999\n[maps:a]\n", 2, "port must be a number from 1 to 65535")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1\n", 2, "port must be a number")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:1, inet:127.0.0.1:2\n", 2, "exactly one listener")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\ntcp = inet:127.0.0.1:9000\n", 4, "listener inet:127.0.0.1:9000 is used twice (lines 2 and 4)")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\n[maps:b]\ntcp = inet:127.0.0.1:09001\n", 4, "is used twice (lines 2 and 4)")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\nallow_put = maybe\n", 3, "allow_put: bad boolean value \"maybe\"")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\nfold_keys = 1\n", 3, "fold_keys: bad boolean value")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\nsmtputf8_enable = on\n", 3, "smtputf8_enable: bad boolean value")]
    [TestCase("[server]\nsmtputf8_enable = 1\n[maps:a]\ntcp = inet:127.0.0.1:9001\n", 2, "smtputf8_enable: bad boolean value")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\nshutdown_timeout = -1\n[maps:a]\n", 3, "shutdown_timeout: bad number")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\nmax_connections = 0\n[maps:a]\n", 3, "max_connections: must be at least 1")]
    [TestCase("[server]\nsocketmap = max_connections=5 inet:127.0.0.1:9000\n[maps:a]\n", 2, "socketmap: option \"max_connections=5\" before any listener endpoint")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000 max_connections=0\n[maps:a]\n", 2, "socketmap: max_connections: must be at least 1")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000 max_connections=many\n[maps:a]\n", 2, "max_connections: bad number \"many\"")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001 backlog=10\n", 2, "tcp: unknown listener option \"backlog\" (known: max_connections, allow, mode, owner, group)")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001 mode=0660\n", 2, "tcp: mode= applies to unix: listeners only, not inet:127.0.0.1:9001")]
    [TestCase("[server]\nsocketmap = unix:/tmp/s mode=0999\n", 2, "socketmap: mode: \"0999\" is not an octal file mode (e.g. 0660)")]
    [TestCase("[server]\nsocketmap = inet:0.0.0.0:9000\n[maps:a]\n", 2, "listener inet:0.0.0.0:9000 is reachable from other machines but has no allow list")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\ntcp = inet:[::]:9001\n", 4, "listener inet:[::]:9001 is reachable from other machines but has no allow list")]
    [TestCase("[server]\nsocketmap = inet:10.1.1.1:9000 allow=10.2.0.0/16\nallow = 10.1.0.0/16\n[maps:a]\n", 2, "allow=10.2.0.0/16 is not inside [server] allow")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\nallow = 10.0.0.1/8\n[maps:a]\n", 3, "allow: bad network \"10.0.0.1/8\"")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\nput_allow = example.com\n", 4, "put_allow: bad address \"example.com\"")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\nuser = a b\n[maps:a]\n", 3, "user: bad user name")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:aliases]\n[maps:Aliases]\n", 4, "clashes with [maps:aliases] at line 3")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\n[server]\n", 4, "duplicate section [server] (first at line 1)")]
    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a:b]\n", 3, "bad map name \"a:b\"")]
    [TestCase("[maps:a]\ntcp = inet:127.0.0.1:9001\nconfig = missing.cf\n", 3, "config: ")]
    public void Errors_NameFileAndLine(string ini, int line, string message)
    {
        var ex = LoadFails(ini);
        Assert.That(ex.File, Is.EqualTo(Ini));
        Assert.That(ex.Line, Is.EqualTo(line));
        Assert.That(ex.Message, Does.StartWith($"{Ini}:{line}: "));
        Assert.That(ex.Message, Does.Contain(message));
    }

    [Test]
    public void Allow_lists_server_wide_narrowed_per_listener_and_put_allow_per_map()
    {
        var def = Load("""
            [server]
            socketmap = inet:0.0.0.0:9000 allow=10.1.0.0/16, inet:127.0.0.1:9002
            allow = 10.0.0.0/8, 2001:db8::/32
            user = tcptable
            [maps:a]
            tcp = inet:[::]:9001
            allow_put = yes
            put_allow = 10.9.9.9
            """);
        Assert.That(def.SocketmapListeners[0].Allow!.ToString(), Is.EqualTo("loopback, 10.1.0.0/16"));
        Assert.That(def.SocketmapListeners[1].Allow!.ToString(), Is.EqualTo("loopback, 10.0.0.0/8, 2001:db8::/32"));
        Assert.That(def.Maps[0].TcpListener!.Allow!.ToString(), Is.EqualTo("loopback, 10.0.0.0/8, 2001:db8::/32"));
        Assert.That(def.Maps[0].PutAllow.ToString(), Is.EqualTo("loopback, 10.9.9.9/32"));
        Assert.That(def.Options.User, Is.EqualTo("tcptable"));
    }

    [Test]
    public void Deadline_per_map_in_seconds_with_units_0_or_absent_is_none()
    {
        var def = Load("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\ndeadline = 4s\n[maps:b]\ndeadline = 0\n[maps:c]\n");
        Assert.That(def.Maps.Select(m => m.Deadline), Is.EqualTo(new TimeSpan?[] { TimeSpan.FromSeconds(4), null, null }));
    }

    [Test]
    public void By_default_listeners_serve_loopback_only_and_puts_come_from_loopback_only()
    {
        var def = Load("[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\ntcp = inet:localhost:9001\nallow_put = yes\n");
        Assert.That(def.SocketmapListeners[0].Allow!.IsLoopbackOnly, Is.True);
        Assert.That(def.Maps[0].TcpListener!.Allow!.IsLoopbackOnly, Is.True);
        Assert.That(def.Maps[0].PutAllow.IsLoopbackOnly, Is.True);
        Assert.That(def.Options.User, Is.Null);
    }

    [Test]
    public void MissingConfigFile_NamesIniLineAndCfFile()
    {
        var ex = LoadFails("[maps:a]\ntcp = inet:127.0.0.1:9001\nconfig = missing.cf\n");
        Assert.That(ex.Message, Does.Contain(Path.Combine(dir.Path, "missing.cf")));
    }

    [Test]
    public void Spec63_CfSyntaxError_NamesCfFileAndLine()
    {
        string cf = dir.Write("a.cf", "ttl = 1\nttl 5\n");
        var ex = LoadFails("[maps:a]\ntcp = inet:127.0.0.1:9001\nconfig = a.cf\n");
        Assert.That(ex.Message, Does.StartWith($"{cf}:2: missing '=' after attribute name"));
    }

    [TestCase("[server]\nsocketmap = inet:127.0.0.1:9000\n", "no [maps:NAME] section")]
    [TestCase("[server]\n[maps:a]\n", "no listeners")]
    [TestCase("[maps:a]\n", "no listeners")]
    public void FileLevelErrors_NameTheFile(string ini, string message)
    {
        var ex = LoadFails(ini);
        Assert.That(ex.Message, Does.StartWith($"{Ini}: "));
        Assert.That(ex.Message, Does.Contain(message));
    }

    [Test]
    public void MissingIniFile_NamesTheFile()
    {
        var ex = Assert.Throws<ConfigException>(() => ServerConfigLoader.Load(Ini, log));
        Assert.That(ex!.Message, Does.StartWith(Ini + ": "));
    }

    private const string L1Head = "[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:a]\n";

    [Test]
    public void L1Options_AreParsed_AndKeptOutOfTheMemcacheParameters()
    {
        var map = Load(L1Head + "l1_ttl = 5s\nl1_size = 1000\nl1_negative_ttl = 2\nttl = 60\n").Maps.Single();
        Assert.That(map.L1, Is.EqualTo(new L1Options(TimeSpan.FromSeconds(5), 1000, TimeSpan.FromSeconds(2))));
        Assert.That(map.Parameters.Keys, Is.EquivalentTo(new[] { "ttl" }));
        Assert.That(log.Warnings, Is.Empty);
    }

    [TestCase("", null)]
    [TestCase("l1_ttl = 0\n", null)]
    [TestCase("l1_ttl = 0s\nl1_size = 50\n", null)]
    [TestCase("l1_ttl = 5\n", 5)]
    [TestCase("l1_ttl = 5s\n", 5)]
    [TestCase("l1_ttl = 2m\n", 120)]
    [TestCase("l1_ttl = 1h\n", 3600)]
    [TestCase("l1_ttl = 1d\n", 86400)]
    public void L1IsOnlyOnWithAPositiveTtl_DefaultsSize100000AndNoNegativeCaching(string lines, int? seconds)
    {
        var map = Load(L1Head + lines).Maps.Single();
        Assert.That(map.L1, Is.EqualTo(seconds is { } s ? new L1Options(TimeSpan.FromSeconds(s), 100000, TimeSpan.Zero) : null));
        Assert.That(map.Parameters, Is.Empty);
    }

    [TestCase("l1_ttl = 5x\n", "l1_ttl: bad time value \"5x\"")]
    [TestCase("l1_ttl = -1\n", "l1_ttl: bad time value \"-1\"")]
    [TestCase("l1_ttl = s\n", "l1_ttl: bad time value \"s\"")]
    [TestCase("l1_ttl = 99999999999\n", "l1_ttl: bad time value")]
    [TestCase("l1_ttl = 9999999d\n", "l1_ttl: bad time value")]
    [TestCase("l1_negative_ttl = 1.5\n", "l1_negative_ttl: bad time value \"1.5\"")]
    [TestCase("l1_size = many\n", "l1_size: bad number \"many\"")]
    [TestCase("l1_size = 1\n", "l1_size: must be at least 2")]
    [TestCase("L1_ttl = 5\n", "unknown key \"L1_ttl\"")]
    public void BadL1Values_NameFileAndLine(string line, string message)
    {
        var ex = LoadFails(L1Head + line);
        Assert.That(ex.Message, Does.StartWith($"{Ini}:4: {message}"));
    }

    [Test]
    public void NegativeTtlWithoutL1Ttl_IsWarnedAbout()
    {
        var map = Load(L1Head + "l1_negative_ttl = 30\n").Maps.Single();
        Assert.That(map.L1, Is.Null);
        Assert.That(log.Warnings, Has.Some.Contains($"{Ini}:4: l1_negative_ttl has no effect in [maps:a]"));
    }

    [Test]
    public void L1OptionsInTheCf_AreNotMemcacheParameters_AndDoNotTurnL1On()
    {
        dir.Write("a.cf", "l1_ttl = 5\nttl = 60\n");
        var map = Load(L1Head + "config = a.cf\n").Maps.Single();
        Assert.That(map.L1, Is.Null, "the .cf stays a pure memcache_table(5) file");
        Assert.That(map.Parameters.Keys, Is.EquivalentTo(new[] { "ttl" }));
    }
}
