using TcpTableServer.Tests.Support;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

[TestFixture]
public sealed class InlineStaticFailTableTests
{
    private ListLogger _logs = null!;
    private TableFactory _factory = null!;

    [SetUp]
    public void SetUp()
    {
        _logs = new ListLogger();
        _factory = new TableFactory(_logs);
    }

    [TearDown]
    public void TearDown() => _logs.Dispose();

    private static KeyValuePair<string, string> E(string k, string v) => new(k, v);

    [Test]
    public async Task Inline_CommaAndWhitespaceSeparated_KeysFolded()
    {
        await using var table = _factory.Open("inline:{ User@Example.com=A, k2=v2\tk3=v3 ,, }", "/");
        Assert.That(await table.LookupAsync("USER@example.COM"), Is.EqualTo(LookupResult.Found("A")));
        Assert.That(await table.LookupAsync("k3"), Is.EqualTo(LookupResult.Found("v3")));
        Assert.That(await table.LookupAsync("k4"), Is.EqualTo(LookupResult.NotFound));
        Assert.That((await table.SequenceAsync()).Entries,
            Is.EqualTo(new[] { E("user@example.com", "A"), E("k2", "v2"), E("k3", "v3") }));
    }

    [Test]
    public async Task Inline_BracedElement_AllowsSpacesAroundEqualsAndInValue()
    {
        await using var table = _factory.Open("inline:{ { Key = value with  spaces }, x=y, {e=} }", "/");
        Assert.That(await table.LookupAsync("key"), Is.EqualTo(LookupResult.Found("value with  spaces")));
        Assert.That(await table.LookupAsync("x"), Is.EqualTo(LookupResult.Found("y")));
        Assert.That(await table.LookupAsync("e"), Is.EqualTo(LookupResult.Found("")));
    }

    [Test]
    public async Task Inline_LaterDuplicateReplacesEarlier()
    {
        await using var table = _factory.Open("inline:{a=1, A=2}", "/");
        Assert.That(await table.LookupAsync("a"), Is.EqualTo(LookupResult.Found("2")));
        Assert.That((await table.SequenceAsync()).Entries, Is.EqualTo(new[] { E("a", "2") }));
    }

    [TestCase("inline:{}", "bad syntax")]
    [TestCase("inline:{ , }", "empty table")]
    [TestCase("inline:a=b", "bad syntax")]
    [TestCase("inline:{a=b", "bad syntax")]
    [TestCase("inline:{a=b} x", "bad syntax")]
    [TestCase("inline:{a = b}", "missing '=' after attribute name")]
    [TestCase("inline:{ {a=b} x}", "missing '=' after attribute name")]
    [TestCase("inline:{ {a=b}x }", "syntax error after '}'")]
    [TestCase("inline:{\"a=b}", "unbalanced '\"'")]
    public void Inline_BadSyntax_IsConfigException(string spec, string why)
    {
        var e = Assert.Throws<ConfigException>(() => _factory.Open(spec, "/"));
        Assert.That(e!.Message, Does.StartWith(why).And.EndWith("need \"inline:{name=value...}\""));
    }

    [Test]
    public async Task Inline_ReadOnly()
    {
        await using var table = _factory.Open("inline:{a=1}", "/");
        Assert.That(await table.UpdateAsync("a", "2"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.DeleteAsync("a"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.LookupAsync("a"), Is.EqualTo(LookupResult.Found("1")));
        Assert.That(_logs.Warnings, Has.Count.EqualTo(2).And.All.Contains("inline:{a=1}").And.All.Contains("read-only"));
    }

    [TestCase("static:OK", "OK")]
    [TestCase("static:{ text with  spaces }", "text with  spaces")]
    [TestCase("static:{}", "")]
    [TestCase("static:a b", "a b")]
    public async Task Static_AnyKeyMapsToValue(string spec, string value)
    {
        await using var table = _factory.Open(spec, "/");
        Assert.That(await table.LookupAsync("anything"), Is.EqualTo(LookupResult.Found(value)));
        Assert.That(await table.LookupAsync(""), Is.EqualTo(LookupResult.Found(value)));
    }

    [TestCase("static:{oops")]
    [TestCase("static:{a} b")]
    public void Static_BadBraces_IsConfigException(string spec)
    {
        var e = Assert.Throws<ConfigException>(() => _factory.Open(spec, "/"));
        Assert.That(e!.Message, Does.StartWith("bad static:name syntax"));
    }

    [Test]
    public async Task Static_ReadOnly_AndCannotSequence()
    {
        await using var table = _factory.Open("static:v", "/");
        Assert.That(await table.UpdateAsync("a", "2"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.DeleteAsync("a"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That((await table.SequenceAsync()).Status, Is.EqualTo(UpdateStatus.ConfigError));
        Assert.That(_logs.Warnings, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task Fail_EveryOperationIsTemporaryError_Spec7_1()
    {
        await using var table = _factory.Open("fail:backup", "/");
        Assert.That(table.Name, Is.EqualTo("fail:backup"));
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(await table.UpdateAsync("k", "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(await table.DeleteAsync("k"), Is.EqualTo(UpdateResult.TempError));
        Assert.That((await table.SequenceAsync()).Status, Is.EqualTo(UpdateStatus.TempError));
    }

    [TestCase("hash:/etc/aliases", "unsupported dictionary type: hash")]
    [TestCase("TEXTHASH:/x", "unsupported dictionary type: TEXTHASH")]
    [TestCase("noColon", "need dictionary type:name")]
    [TestCase(":name", "need dictionary type:name")]
    [TestCase("texthash:", "empty table file name")]
    public void Factory_BadSpec_IsConfigException(string spec, string message)
    {
        var e = Assert.Throws<ConfigException>(() => _factory.Open(spec, "/"));
        Assert.That(e!.Message, Does.StartWith(message));
    }

    [TestCase("texthash", typeof(TexthashTable))]
    [TestCase("inline", typeof(InlineTable))]
    [TestCase("static", typeof(StaticTable))]
    [TestCase("fail", typeof(FailTable))]
    [TestCase("lmdb", typeof(LmdbTable))]
    public async Task Factory_DispatchesOnType(string type, Type expected)
    {
        using var dir = new TempDir();
        dir.Write("t", "k v\n");
        string name = type is "inline" ? "{k=v}" : "t";
        await using var table = _factory.Open($"{type}:{name}", dir.Path, new TableOpenOptions(CreateMissing: true));
        Assert.That(((TableRegistry.SharedTable)table).Inner, Is.InstanceOf(expected));
        Assert.That(table.Name, Is.EqualTo($"{type}:{name}"));
    }
}
