using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Spec 3.3 UTF-8 mode, end to end against the oracle: real Postfix with
/// <c>smtputf8_enable = yes</c> in its main.cf (Postfix's default) asks its own memcache:
/// client and our server (through its socketmap: and tcp: clients) the same keys; each side has
/// its own memcached and the same texthash backup, so answers and the items written back
/// (the memcached keys Postfix derives by Unicode case folding) must be equal. The server runs
/// with its defaults (smtputf8_enable not set: yes). Keys are octet strings (UTF-8 bytes).
/// </summary>
[TestFixture, Category("Interop")]
[NonParallelizable]
public sealed class Smtputf8InteropTests
{
    /// <summary>Non-ASCII mixed-case keys: Latin, German ß and ẞ, Turkish dotted/dotless I, Greek final sigma, Cherokee, ligatures, Kelvin sign.</summary>
    private static readonly string[] MixedCaseKeys =
    [
        "ñAndÚ170@eXAmplE.CoM", "ÑANDÚ170@example.com", "JÖRG@Example.COM",
        "Straße@example.com", "STRASSE@example.com", "STRAẞE@example.com",
        "İstanbul@example.com", "ISTANBUL@example.com", "ıstanbul@example.com",
        "ΣΊΣΥΦΟΣ@example.com", "σίσυφος@example.com", "ΌΣΟΣ@example.com",
        "ᏣᎳᎩ@example.com", "ꮳꮃꭹ@example.com", "ﬃx@example.com", "\u212Aelvin@example.com",
        "ΐ@example.com", "ǅemal@example.com", "user@ÉXÄMPLE.com", "öster@example.com", "Öster@Example.com",
    ];

    private TempDir _dir = null!;
    private MemcachedProcess _mcPostfix = null!, _mcOurs = null!;
    private ServerProcess _server = null!;
    private Postfix _postfix = null!;
    private int _socketmapPort, _tcpPort, _tcpAsciiPort, _tcpPlainPort;
    private string _postfixCf = null!;

    private string Socketmap(string map) => $"socketmap:inet:127.0.0.1:{_socketmapPort}:{map}";
    private static string Tcp(int port) => $"tcp:127.0.0.1:{port}";

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _dir = new TempDir();
        _mcPostfix = MemcachedProcess.Start();
        _mcOurs = MemcachedProcess.Start();
        _postfix = new Postfix(_dir.Path, smtputf8: true);
        _socketmapPort = FreePort.Next();
        _tcpPort = FreePort.Next();
        _tcpAsciiPort = FreePort.Next();
        _tcpPlainPort = FreePort.Next();

        // Backup keys in folded form, plus one in upper case: in UTF-8 mode Postfix folds texthash
        // keys as Unicode at load (checked with postmap), so it is found whatever the case asked.
        File.WriteAllBytes(_dir["backup"], Octets.ToBytes(Octets.FromUtf8("""
            ñandú170@example.com bk-nandu
            strasse@example.com bk-strasse
            i̇stanbul@example.com bk-istanbul-dotted
            istanbul@example.com bk-istanbul
            ıstanbul@example.com bk-istanbul-dotless
            σίσυφοσ@example.com bk-sisyphos
            ᏣᎳᎩ@example.com bk-tsalagi
            ffix@example.com bk-ffi
            kelvin@example.com bk-kelvin
            ΐ@example.com bk-iota
            ǆemal@example.com bk-dz
            user@éxämple.com bk-example
            ÖSTER@example.com bk-upper
            """)));
        string Cf(string name, MemcachedProcess mc) =>
            _dir.File(name, $"memcache = {mc.Endpoint}\nkey_format = u:%s\nbackup = texthash:{_dir["backup"]}\nttl = 600\n");
        _postfixCf = Cf("postfix.cf", _mcPostfix);
        Cf("ours.cf", _mcOurs);
        _dir.File("plain.cf", $"memcache = {_mcOurs.Endpoint}\nkey_format = u:%s\n");
        var ini = _dir.File("server.ini", $"""
            [server]
            socketmap = inet:127.0.0.1:{_socketmapPort}

            [maps:ours]
            config = ours.cf
            tcp = inet:127.0.0.1:{_tcpPort}

            [maps:plain]
            config = plain.cf
            tcp = inet:127.0.0.1:{_tcpPlainPort}
            allow_put = yes

            [maps:ascii]
            config = ours.cf
            tcp = inet:127.0.0.1:{_tcpAsciiPort}
            smtputf8_enable = no
            """);
        _server = ServerProcess.Serve(ini, _socketmapPort, _tcpPort, _tcpAsciiPort, _tcpPlainPort);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _server?.Dispose();
        _mcPostfix?.Dispose();
        _mcOurs?.Dispose();
        _dir?.Dispose();
    }

    [SetUp]
    public void Flush()
    {
        _mcPostfix.FlushAll();
        _mcOurs.FlushAll();
    }

    /// <summary>`postmap -q -` with every key on stdin: "key TAB value" lines of the found ones, and stderr.</summary>
    private Postfix.Result Batch(IEnumerable<string> keys, string table) =>
        _postfix.Postmap(["-q", "-", table], string.Concat(keys.Select(k => k + "\n")));

    private static string[] Octet(IEnumerable<string> text) => [.. text.Select(Octets.FromUtf8)];

    /// <summary>
    /// The items in <paramref name="mc"/>: every key either memcached lists, and the keys the
    /// test expects (<paramref name="expected"/>), read back with get, as the dump may skip an
    /// item; a key without an item is left out. Called for both memcacheds, the two compare.
    /// </summary>
    private Dictionary<string, (string Value, int Flags)> Items(MemcachedProcess mc, IEnumerable<string> expected)
    {
        var candidates = _mcPostfix.Keys();
        candidates.UnionWith(_mcOurs.Keys());
        candidates.UnionWith(expected);
        var items = new Dictionary<string, (string Value, int Flags)>(StringComparer.Ordinal);
        foreach (var key in candidates)
            if (mc.Get(key) is { } item) items[key] = item;
        return items;
    }

    /// <summary>The memcached keys (key_format u:%s) an update or write-back of <paramref name="keys"/> could use: as asked, folded A-Z, folded Unicode.</summary>
    private static IEnumerable<string> ItemKeys(IEnumerable<string> keys) =>
        keys.SelectMany(k => new[] { k, Octets.FoldAscii(k), CaseFolding.Fold(k, unicode: true) }).Select(k => "u:" + k).Distinct();

    [Test]
    public void S3_3_Utf8Mode_NonAsciiMixedCaseKeys_SameAnswersAndWriteBacksAsPostfixMemcache()
    {
        var keys = Octet(MixedCaseKeys);
        var expected = Batch(keys, "memcache:" + _postfixCf);
        Assert.That(expected.Stdout, Does.Contain(Octets.FromUtf8("ñAndÚ170@eXAmplE.CoM\tbk-nandu")), "precondition: Postfix folds Unicode");
        Assert.That(expected.Stdout, Does.Contain(Octets.FromUtf8("öster@example.com\tbk-upper")), "precondition: Postfix's texthash folds Unicode at load");
        var postfixItems = Items(_mcPostfix, ItemKeys(keys));
        Assert.That(postfixItems.Keys, Does.Contain(Octets.FromUtf8("u:strasse@example.com")), "precondition: written back under the folded key");

        foreach (var table in new[] { Socketmap("ours"), Tcp(_tcpPort) })
        {
            _mcOurs.FlushAll();
            var ours = Batch(keys, table);
            Assert.That(ours.Stdout, Is.EqualTo(expected.Stdout), $"{table}: answers; stderr: {ours.Stderr}");
            Assert.That(Items(_mcOurs, ItemKeys(keys)), Is.EquivalentTo(Items(_mcPostfix, ItemKeys(keys))), $"{table}: memcached items written back");
        }
    }

    [Test]
    public void S3_3_Utf8Mode_CachedItemsUnderFoldedKeys_AreFoundWhateverTheCase()
    {
        // items Postfix wrote (its update through a key in another case would land here too)
        foreach (var (key, value) in new[] { ("u:ñandú9@example.com", "c-nandu"), ("u:ssigma-σσ@example.com", "c-sigma"), ("u:ᏣᎳᎩ9@example.com", "c-tsalagi") })
        {
            _mcPostfix.Set(Octets.FromUtf8(key), value);
            _mcOurs.Set(Octets.FromUtf8(key), value);
        }
        var keys = Octet(["ÑandÚ9@Example.com", "SSIGMA-ΣΣ@example.com", "ßigma-σς@example.com", "ꮳꮃꭹ9@EXAMPLE.COM", "ᏣᎳᎩ9@example.com"]);
        var expected = Batch(keys, "memcache:" + _postfixCf);
        Assert.That(expected.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(5), expected.Stderr);
        foreach (var table in new[] { Socketmap("ours"), Tcp(_tcpPort) })
            Assert.That(Batch(keys, table).Stdout, Is.EqualTo(expected.Stdout), table);
    }

    [Test]
    public void S3_3_Utf8Mode_InvalidUtf8Key_NotFound_MemcachedNotAsked()
    {
        // Postfix's UTF-8 layer skips such a key before memcached: even an item under it is not found
        foreach (var mc in new[] { _mcPostfix, _mcOurs }) mc.Set("u:bad\xff@example.com", "cached-bad");
        var keys = new[] { "bad\xff@example.com", "BAD\xc3@example.com", "over\xc0\xafong@example.com", "surr\xed\xa0\x80@example.com" };
        var expected = Batch(keys, "memcache:" + _postfixCf);
        Assert.That((expected.ExitCode, expected.Stdout), Is.EqualTo((1, "")), "precondition: Postfix answers not found");
        Assert.That(expected.Stderr, Does.Contain("non-UTF-8 key"));

        // Postfix's own socketmap:/tcp: clients skip these keys too: ask the server directly
        Assert.That(RawSocket.Exchange(_tcpPort, "get bad%FF@example.com\n"), Is.EqualTo("500 not-found\n"));
        Assert.That(RawSocket.Exchange(_tcpPort, "get BAD%C3@example.com\nget over%C0%AFong@example.com\n"),
            Is.EqualTo("500 not-found\n500 not-found\n"));
        Assert.That(Items(_mcOurs, ItemKeys(keys)).Keys, Is.EquivalentTo(new[] { "u:bad\xff@example.com" }), "no write-back from the backup");
    }

    [Test]
    public void S3_3_Utf8Mode_InvalidUtf8KeyOrValue_UpdateReportsSuccess_StoresNothing()
    {
        // as Postfix's dict_utf8 update (spec 3.3, checked by the differential harness's libpostfix driver)
        Assert.That(RawSocket.Exchange(_tcpPlainPort, "put Bad%FF@example.com v\nput good@example.com bad%FFvalue\n"),
            Is.EqualTo("200 ok\n200 ok\n"));
        Assert.That(Items(_mcOurs, ItemKeys(["Bad\xff@example.com", "good@example.com"])), Is.Empty);
        Assert.That(RawSocket.Exchange(_tcpPlainPort, "put %C3%91AND%C3%9A-PUT@example.com %C3%A9t%C3%A9\n"),
            Is.EqualTo("200 ok\n"));
        Assert.That(_mcOurs.Get(Octets.FromUtf8("u:ñandú-put@example.com")), Is.EqualTo((Octets.FromUtf8("été"), 0)));
    }

    [Test]
    public void S3_3_Utf8Mode_NonUtf8ValueFound_IsAnErrorForPostfix()
    {
        foreach (var mc in new[] { _mcPostfix, _mcOurs }) mc.Set("u:value@example.com", "caf\xe9");
        var expected = _postfix.Postmap(["-q", "value@example.com", "memcache:" + _postfixCf]);
        Assert.That(expected.Stderr, Does.Contain("non-UTF-8 value").And.Contain("query error"), "precondition: Postfix");
        foreach (var table in new[] { Socketmap("ours"), Tcp(_tcpPort) })
        {
            var r = _postfix.Postmap(["-q", "value@example.com", table]);
            Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((expected.ExitCode, "")), table);
            Assert.That(r.Stderr, Does.Contain("query error"), table);
        }
        Assert.That(RawSocket.Exchange(_tcpPort, "get value@example.com\n"), Does.StartWith("400 "), "a configuration error, not the value");
    }

    [Test]
    public void S3_3_MapWithSmtputf8Off_FoldsAsciiOnly()
    {
        _mcOurs.Set(Octets.FromUtf8("u:jÖrg@example.com"), "ascii-folded");
        Assert.That(RawSocket.Exchange(_tcpAsciiPort, "get J%C3%96RG@example.com\n"), Is.EqualTo("200 ascii-folded\n"));
        Assert.That(RawSocket.Exchange(_tcpPort, "get J%C3%96RG@example.com\n"), Is.EqualTo("500 not-found\n"),
            "the UTF-8 map folds Ö too, to a key that has no item");
    }
}
