using TcpTableServer.Tests.Support;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

[TestFixture]
public sealed class TexthashTableTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _logs = new ListLogger();
    }

    [TearDown]
    public void TearDown()
    {
        _dir.Dispose();
        _logs.Dispose();
    }

    private Task<ITable> OpenAsync(string text, string file = "map")
    {
        _dir.File(file, text); // UTF-8, as an operator edits the file
        return Task.FromResult( new TableFactory(_logs).Open("texthash:" + file, _dir.Path));
    }

    [Test]
    public async Task Lookup_FoldsKeysOnLoadAndOnLookup_Spec3_3()
    {
        await using var table = await OpenAsync("User@Example.COM  From-Backup\n");
        Assert.That(await table.LookupAsync("user@example.com"), Is.EqualTo(LookupResult.Found("From-Backup")));
        Assert.That(await table.LookupAsync("USER@EXAMPLE.COM"), Is.EqualTo(LookupResult.Found("From-Backup")));
        Assert.That(await table.LookupAsync("other@example.com"), Is.EqualTo(LookupResult.NotFound));
    }

    [Test]
    public async Task Lookup_FoldsOnlyAscii_V07()
    {
        await using var table = await OpenAsync("JÖRG@example.com x\n");
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jÖrg@EXAMPLE.com")), Is.EqualTo(LookupResult.Found("x")));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jörg@example.com")), Is.EqualTo(LookupResult.NotFound));
    }

    [Test]
    public async Task Utf8Mode_FoldsUnicodeOnLoad_IgnoresNonUtf8Lines_Spec3_3()
    {
        // as Debian's Postfix with smtputf8_enable = yes (postmap -q / -s texthash:)
        File.WriteAllBytes(_dir["u"], Octets.ToBytes(Octets.FromUtf8("JÖRG@example.com x\nSTRAẞE@example.com y\n") + "caf\xe9@example.com z\nok@example.com caf\xe9\n"));
        await using var table = new TableFactory(_logs).Open("texthash:u", _dir.Path, new TableOpenOptions(CreateMissing: false, Utf8: true));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jörg@example.com")), Is.EqualTo(LookupResult.Found("x")));
        Assert.That(await table.LookupAsync("strasse@example.com"), Is.EqualTo(LookupResult.Found("y")));
        Assert.That((await table.SequenceAsync()).Entries, Has.Count.EqualTo(2));
        Assert.That(_logs.Warnings, Has.Exactly(2).Contains("non-UTF-8 input"));
        File.WriteAllText(_dir["dup"], "ÖSTER@x 1\nöster@x 2\n");
        Assert.Throws<ConfigException>(() => new TableFactory(_logs).Open("texthash:dup", _dir.Path, new TableOpenOptions(CreateMissing: false, Utf8: true)), "equal after folding");
    }

    [Test]
    public async Task Grammar_ValueKeepsInnerWhitespace_TrimsOuter()
    {
        await using var table = await OpenAsync("key \t  a  b\tc \t\r\n");
        Assert.That(await table.LookupAsync("key"), Is.EqualTo(LookupResult.Found("a  b\tc")));
    }

    [Test]
    public async Task Grammar_CommentsBlankLinesAndContinuations()
    {
        const string text =
            "# a comment\n" +
            "\n" +
            "   # an indented comment\n" +
            "multi first\n" +
            "# comment inside a logical line\n" +
            "\n" +
            "  second\n" +
            "\tthird\n" +
            "single value # not a comment\n";
        await using var table = await OpenAsync(text);
        Assert.That(await table.LookupAsync("multi"), Is.EqualTo(LookupResult.Found("first  second\tthird")));
        Assert.That(await table.LookupAsync("single"), Is.EqualTo(LookupResult.Found("value # not a comment")));
        Assert.That(await table.LookupAsync("#"), Is.EqualTo(LookupResult.NotFound));
        var all = await table.SequenceAsync();
        Assert.That(all.Entries.Select(e => e.Key), Is.EqualTo(new[] { "multi", "single" }));
        Assert.That(_logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task Grammar_KeyWithoutValue_WarnsAndSkipsLine()
    {
        await using var table = await OpenAsync("a 1\nlonely\nb 2\n");
        Assert.That(await table.LookupAsync("lonely"), Is.EqualTo(LookupResult.NotFound));
        Assert.That(await table.LookupAsync("b"), Is.EqualTo(LookupResult.Found("2")));
        Assert.That(_logs.Warnings, Has.One.Contains("line 2: expected format: key whitespace value -- ignoring this line"));
    }

    [Test]
    public async Task Grammar_LeadingWhitespaceWithoutPrecedingLine_WarnsAndIgnores()
    {
        await using var table = await OpenAsync("  orphan text\n  more\nkey value\n");
        Assert.That(await table.SequenceAsync(), Has.Property("Entries").EqualTo(
            new[] { new KeyValuePair<string, string>("key", "value") }));
        Assert.That(_logs.Warnings, Has.One.Contains("logical line must not start with whitespace"));
    }

    [Test]
    public async Task Grammar_QuotedKeyKeepsQuotes_BackslashEscapesSpace()
    {
        await using var table = await OpenAsync("\"A B\" quoted\nc\\ d escaped\n\"open value\n");
        Assert.That(await table.LookupAsync("\"a b\""), Is.EqualTo(LookupResult.Found("quoted")));
        Assert.That(await table.LookupAsync("c\\ d"), Is.EqualTo(LookupResult.Found("escaped")));
        Assert.That(_logs.Warnings, Has.One.Contains("line 3: unbalanced '\"'"));
    }

    [Test]
    public async Task Grammar_AliasStyleKey_Warns()
    {
        await using var table = await OpenAsync("postmaster: root\n");
        Assert.That(await table.LookupAsync("postmaster:"), Is.EqualTo(LookupResult.Found("root")));
        Assert.That(_logs.Warnings, Has.One.Contains("is this an alias file?"));
    }

    [Test]
    public void DuplicateKey_CaseInsensitive_IsConfigErrorWithFileAndLine()
    {
        _dir.Write("dup", "a 1\n\nA 2\n");
        var e = Assert.Throws<ConfigException>(() => new TableFactory(_logs).Open("texthash:dup", _dir.Path));
        Assert.That(e!.Message, Is.EqualTo($"{_dir.File("dup")}:3: duplicate entry: \"a\""));
    }

    [Test]
    public void MissingFile_IsConfigErrorNamingPath()
    {
        var e = Assert.Throws<ConfigException>(() => new TableFactory(_logs).Open("texthash:nope", _dir.Path));
        Assert.That(e!.Message, Does.Contain(_dir.File("nope")));
    }

    [Test]
    public async Task AbsolutePath_IsNotResolvedAgainstBaseDirectory()
    {
        string file = _dir.Write("abs", "k v\n");
        await using var table = new TableFactory(_logs).Open("texthash:" + file, "/nonexistent");
        Assert.That(table.Name, Is.EqualTo("texthash:" + file));
        Assert.That(await table.LookupAsync("K"), Is.EqualTo(LookupResult.Found("v")));
    }

    [Test]
    public async Task UpdateAndDelete_ReadOnly_ConfigErrorWithWarning()
    {
        await using var table = await OpenAsync("k v\n");
        Assert.That(await table.UpdateAsync("k", "new"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.DeleteAsync("k"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(_logs.Warnings, Has.Count.EqualTo(2).And.All.Contains("table is read-only"));
    }

    [Test]
    public async Task Sequence_AllEntriesFoldedInFileOrder_Spec3_7()
    {
        await using var table = await OpenAsync("B@X 2\na@x 1\n");
        var result = await table.SequenceAsync();
        Assert.That(result.Status, Is.EqualTo(UpdateStatus.Success));
        Assert.That(result.Entries, Is.EqualTo(new[]
        {
            new KeyValuePair<string, string>("b@x", "2"),
            new KeyValuePair<string, string>("a@x", "1"),
        }));
    }

    [Test]
    public async Task Bytes_AreOctets_InvalidUtf8Preserved()
    {
        _dir.Write("bin", "");
        File.WriteAllBytes(_dir.File("bin"), [(byte)'K', 0xFF, (byte)' ', 0xC3, 0x28, (byte)'\n']);
        await using var table = new TableFactory(_logs).Open("texthash:bin", _dir.Path);
        Assert.That(await table.LookupAsync("k\u00FF"), Is.EqualTo(LookupResult.Found("\u00C3(")));
    }
}
