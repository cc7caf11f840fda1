using TcpTableServer.Tests.Support;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// <see cref="LmdbTable.UpdateManyAsync"/>, the batch of the <c>load</c> verb: one transaction,
/// all of it or nothing, in order, and ASCII-folded keys like every other operation (spec 3.3).
/// </summary>
[TestFixture]
public sealed class LmdbUpdateManyTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;
    private LmdbTable _table = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _logs = new ListLogger();
        _table = LmdbTable.Open("b", _dir.File("b"), _logs, create: true);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _table.DisposeAsync();
        _dir.Dispose();
        _logs.Dispose();
    }

    private static KeyValuePair<string, string> E(string k, string v) => new(k, v);

    [Test]
    public async Task Batch_IsWritten_WithFoldedKeys_LaterEntryReplacingEarlier()
    {
        var r = await _table.UpdateManyAsync([E("A@Example.COM", "1"), E("b", "2"), E("b", "3")]);
        Assert.That(r, Is.EqualTo(UpdateResult.Success));
        Assert.That(await _table.LookupAsync("a@example.com"), Is.EqualTo(LookupResult.Found("1")));
        Assert.That(await _table.LookupAsync("B"), Is.EqualTo(LookupResult.Found("3")));
    }

    [Test]
    public async Task Batch_WithAKeyLmdbRefuses_WritesNothing()
    {
        string tooLong = new('k', 600);
        Assert.That(_table.KeyFits(tooLong), Is.False);
        Assert.That(_table.KeyFits("short"), Is.True);
        var r = await _table.UpdateManyAsync([E("first", "1"), E(tooLong, "2"), E("last", "3")]);
        Assert.That(r, Is.EqualTo(UpdateResult.TempError));
        Assert.That((await _table.SequenceAsync()).Entries, Is.Empty, "all or nothing");
    }

    [Test]
    public async Task Batch_And_SingleUpdates_QueuedTogether_AllLand()
    {
        var singles = Enumerable.Range(0, 50).Select(i => _table.UpdateAsync($"s{i}", "v").AsTask()).ToList();
        var batch = _table.UpdateManyAsync(Enumerable.Range(0, 3000).Select(i => E($"m{i}", $"{i}")).ToList()).AsTask();
        Assert.That(await batch, Is.EqualTo(UpdateResult.Success));
        Assert.That(await Task.WhenAll(singles), Has.All.EqualTo(UpdateResult.Success));
        Assert.That((await _table.SequenceAsync()).Entries, Has.Count.EqualTo(3050));
    }
}
