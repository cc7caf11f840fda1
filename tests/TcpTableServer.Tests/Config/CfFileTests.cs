using TcpTableServer.Tests.Support;
using TcpTableServer.Config;

namespace TcpTableServer.Tests.Config;

/// <summary>The .cf reader against spec 6.2-6.4 (Postfix readllines + split_nameval).</summary>
public class CfFileTests
{
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

    private IReadOnlyDictionary<string, ConfigValue> Read(string text) => CfFile.Read(dir.Write("t.cf", text), log);

    private static Dictionary<string, string> Values(IReadOnlyDictionary<string, ConfigValue> d) =>
        d.ToDictionary(kv => kv.Key, kv => kv.Value.Value);

    [Test]
    public void Spec63_SimpleEntries_WithFileAndLine()
    {
        var d = Read("memcache = inet:127.0.0.1:11211\nkey_format=aliases:%s\n");
        Assert.That(d["memcache"], Is.EqualTo(new ConfigValue("memcache", "inet:127.0.0.1:11211", Path.Combine(dir.Path, "t.cf"), 1)));
        Assert.That(d["key_format"].Value, Is.EqualTo("aliases:%s"));
        Assert.That(d["key_format"].Line, Is.EqualTo(2));
        Assert.That(log.Warnings, Is.Empty);
    }

    [Test]
    public void Spec62_CommentsAndBlankLinesAnywhere_DoNotEndAContinuedEntry()
    {
        var d = Read("# head\n\nkey_format = a\n# inside\n   \n  # indented comment\n\tb\nttl = 5\n");
        Assert.That(Values(d), Is.EqualTo(new Dictionary<string, string> { ["key_format"] = "a\tb", ["ttl"] = "5" }));
        Assert.That(d["ttl"].Line, Is.EqualTo(8));
    }

    [Test]
    public void Spec62_ContinuationKeepsLeadingWhitespace_AliasesExample()
    {
        var d = Read("key_format = aliases:\n  %s\n");
        Assert.That(d["key_format"].Value, Is.EqualTo("aliases:  %s"));
        Assert.That(d["key_format"].Line, Is.EqualTo(1));
    }

    [Test]
    public void Spec62_ContinuationOfTheName_AllVerticalWhitespaceKinds()
    {
        // VT, FF and CR at line start also continue (Postfix ISSPACE).
        var d = Read("domain = a,\n\vb,\n\fc,\n\rd\n");
        Assert.That(d["domain"].Value, Is.EqualTo("a,\vb,\fc,\rd"));
    }

    [Test]
    public void Spec62_HashIsACommentOnlyAtLineStart()
    {
        var d = Read("ttl = 60 # one hour\nkey_format = #%s\n");
        Assert.That(d["ttl"].Value, Is.EqualTo("60 # one hour"));
        Assert.That(d["key_format"].Value, Is.EqualTo("#%s"));
    }

    [Test]
    public void Spec62_IndentedTextWithoutLogicalLine_IsIgnoredWithWarning()
    {
        var d = Read("  ttl = 5\n  more\nflags = 1\n");
        Assert.That(Values(d), Is.EqualTo(new Dictionary<string, string> { ["flags"] = "1" }));
        Assert.That(d["flags"].Line, Is.EqualTo(3));
        Assert.That(log.Warnings.Single(), Does.Contain("t.cf, line 1: logical line must not start with whitespace"));
    }

    [Test]
    public void Spec62_CrLf_CrRemovedOnlyAsTrailingWhitespace()
    {
        var d = Read("ttl = 5\r\nkey_format = a\r\n  %s\r\n\r\nflags = 2\r\n");
        Assert.That(Values(d), Is.EqualTo(new Dictionary<string, string>
        {
            ["ttl"] = "5", ["key_format"] = "a\r  %s", ["flags"] = "2",
        }));
        Assert.That(d["flags"].Line, Is.EqualTo(5));
    }

    [Test]
    public void Spec62_LastLineWithoutNewline()
    {
        var d = Read("ttl = 5\nflags = 7");
        Assert.That(d["flags"].Value, Is.EqualTo("7"));
        Assert.That(d["flags"].Line, Is.EqualTo(2));
    }

    [Test]
    public void Spec63_ValueMayBeEmptyAndContainEqualsAndQuotes()
    {
        var d = Read("backup =\nkey_format = a=b \"%s\" \ndomain=   \n");
        Assert.That(Values(d), Is.EqualTo(new Dictionary<string, string>
        {
            ["backup"] = "", ["key_format"] = "a=b \"%s\"", ["domain"] = "",
        }));
    }

    [Test]
    public void Spec63_EntryStartingWithEquals_IsFatalWithLine()
    {
        var ex = Assert.Throws<ConfigException>(() => Read("ttl = 5\n# c\n=x\n"));
        Assert.That(ex!.Message, Does.StartWith(Path.Combine(dir.Path, "t.cf") + ":3: missing attribute name"));
        Assert.That(ex.Line, Is.EqualTo(3));
    }

    [Test]
    public void Spec63_NameWithoutEquals_IsFatalWithLineOfLogicalLineStart()
    {
        var ex = Assert.Throws<ConfigException>(() => Read("flags = 1\nttl\n 5\n"));
        Assert.That(ex!.Message, Does.StartWith(Path.Combine(dir.Path, "t.cf") + ":2: missing '=' after attribute name"));
        ex = Assert.Throws<ConfigException>(() => Read("ttl 5\n"));
        Assert.That(ex!.Message, Does.Contain("t.cf:1: missing '=' after attribute name: \"ttl 5\""));
    }

    [Test]
    public void Spec64_DuplicateLastWins_WarnsOnlyWhenValuesDiffer()
    {
        var d = Read("ttl = 5\nttl = 5\nttl = 6\n");
        Assert.That(d["ttl"].Value, Is.EqualTo("6"));
        Assert.That(d["ttl"].Line, Is.EqualTo(3));
        Assert.That(log.Warnings.Single(), Does.Contain("t.cf:3: overriding earlier entry for \"ttl\""));
    }

    [Test]
    public void Spec64_NamesAreCaseSensitive_UnknownNamesKeptAndWarned()
    {
        var d = Read("ttl = 5\nTTL = 6\n");
        Assert.That(Values(d), Is.EqualTo(new Dictionary<string, string> { ["ttl"] = "5", ["TTL"] = "6" }));
        Assert.That(log.Warnings.Single(), Does.Contain("t.cf:2: unknown memcache_table(5) parameter \"TTL\""));
    }

    [Test]
    public void OctetStrings_BytesAbove0x7F_ReadAsLatin1()
    {
        string path = Path.Combine(dir.Path, "u.cf");
        File.WriteAllBytes(path, [.. "key_format = "u8, 0xC3, 0x96, (byte)'\n']);
        Assert.That(CfFile.Read(path, log)["key_format"].Value, Is.EqualTo("\u00C3\u0096"));
    }

    [Test]
    public void MissingFile_NamesTheFile()
    {
        string path = Path.Combine(dir.Path, "nope.cf");
        var ex = Assert.Throws<ConfigException>(() => CfFile.Read(path, log));
        Assert.That(ex!.File, Is.EqualTo(path));
        Assert.That(ex.Message, Does.StartWith(path + ": "));
    }
}
