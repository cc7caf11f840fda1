using TcpTableServer.Tests.Support;
using System.Diagnostics;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

[TestFixture]
public sealed class LmdbTableTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;
    private TableFactory _factory = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _logs = new ListLogger();
        _factory = new TableFactory(_logs);
    }

    [TearDown]
    public void TearDown()
    {
        _dir.Dispose();
        _logs.Dispose();
    }

    [Test]
    public async Task MissingFile_IsCreatedEmpty_WhenDirectoryExists()
    {
        await using var table = _factory.Open("lmdb:backup", _dir.Path);
        Assert.That(File.Exists(_dir.File("backup.lmdb")), Is.True);
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.NotFound));
        Assert.That((await table.SequenceAsync()).Entries, Is.Empty);
    }

    [Test]
    public async Task NativeLibrary_IsTheSystemLiblmdb_NotTheBundledOne()
    {
        await using var table = _factory.Open("lmdb:b", _dir.Path);
        await table.UpdateAsync("k", "v");
        var lmdbMappings = File.ReadAllLines("/proc/self/maps")
            .Where(l => l.Contains("lmdb", StringComparison.Ordinal) && l.Contains(".so", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf('/'))..]).Distinct().ToList();
        Assert.That(lmdbMappings, Has.Some.EndsWith("/liblmdb.so.0.0.0").Or.Some.EndsWith("/liblmdb.so.0"));
        Assert.That(lmdbMappings, Has.None.Contains("runtimes").And.None.StartsWith(AppContext.BaseDirectory));
    }

    [Test]
    public void MissingDirectory_IsConfigExceptionNamingPath()
    {
        var e = Assert.Throws<ConfigException>(() => _factory.Open("lmdb:no/such/dir/backup", _dir.Path));
        Assert.That(e!.Message, Does.Contain(_dir.File("no/such/dir/backup.lmdb")));
    }

    [Test]
    public void NotAnLmdbFile_IsConfigExceptionNamingPath()
    {
        File.WriteAllText(_dir.File("junk.lmdb"), new string('x', 20000));
        var e = Assert.Throws<ConfigException>(() => _factory.Open("lmdb:junk", _dir.Path));
        Assert.That(e!.Message, Does.StartWith($"open database {_dir.File("junk.lmdb")}"));
    }

    [Test]
    public async Task UpdateLookupDelete_FoldKeys_Spec3_5_3_6()
    {
        await using var table = _factory.Open("lmdb:b", _dir.Path);
        Assert.That(await table.UpdateAsync("User@Example.COM", "Value One"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync("user@example.com"), Is.EqualTo(LookupResult.Found("Value One")));
        Assert.That(await table.UpdateAsync("USER@example.com", "Two"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync("User@Example.Com"), Is.EqualTo(LookupResult.Found("Two")));
        Assert.That(await table.DeleteAsync("user@EXAMPLE.com"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync("user@example.com"), Is.EqualTo(LookupResult.NotFound));
        Assert.That(await table.DeleteAsync("user@example.com"), Is.EqualTo(UpdateResult.Fail));
    }

    [Test]
    public async Task Sequence_AllEntriesWithoutTrailingNul_Spec3_7()
    {
        await using var table = _factory.Open("lmdb:b", _dir.Path);
        await table.UpdateAsync("B", "2");
        await table.UpdateAsync("a", "1");
        var result = await table.SequenceAsync();
        Assert.That(result.Status, Is.EqualTo(UpdateStatus.Success));
        Assert.That(result.Entries, Is.EqualTo(new[]
        {
            new KeyValuePair<string, string>("a", "1"),
            new KeyValuePair<string, string>("b", "2"),
        }));
    }

    [Test]
    public async Task Octets_NonAsciiBytesStoredExactly()
    {
        await using var table = _factory.Open("lmdb:b", _dir.Path);
        string key = Octets.FromUtf8("JÖRG@x"), value = "\u00FF\u00C3(";
        Assert.That(await table.UpdateAsync(key, value), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jÖrg@x")), Is.EqualTo(LookupResult.Found(value)));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jörg@x")), Is.EqualTo(LookupResult.NotFound));
    }

    [Test]
    public async Task Data_SurvivesReopen()
    {
        await using (var table = _factory.Open("lmdb:b", _dir.Path))
            await table.UpdateAsync("k", "v");
        await using var again = _factory.Open("lmdb:b", _dir.Path);
        Assert.That(await again.LookupAsync("K"), Is.EqualTo(LookupResult.Found("v")));
    }

    [Test]
    public async Task ManyLargeEntries_GrowTheMap()
    {
        await using var table = (LmdbTable)_factory.Open("lmdb:big", _dir.Path);
        long initial = table.MapSize;
        Assert.That(initial, Is.EqualTo(LmdbTable.DefaultMapSize));
        string big = new('v', 256 * 1024);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 80; i++)                           // 20 MiB of values > 10 MiB map
            Assert.That(await table.UpdateAsync($"Key{i}", big + i), Is.EqualTo(UpdateResult.Success), $"entry {i}");
        Assert.That(table.MapSize, Is.GreaterThan(initial));
        Assert.That(await table.LookupAsync("KEY0"), Is.EqualTo(LookupResult.Found(big + 0)));
        Assert.That(await table.LookupAsync("key79"), Is.EqualTo(LookupResult.Found(big + 79)));
        Assert.That((await table.SequenceAsync()).Entries, Has.Count.EqualTo(80));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task ConcurrentOperations_AreSerializedSafely()
    {
        await using var table = _factory.Open("lmdb:c", _dir.Path);
        var tasks = Enumerable.Range(0, 200).Select(async i =>
        {
            await Task.Yield();
            Assert.That(await table.UpdateAsync($"k{i % 20}", $"v{i % 20}"), Is.EqualTo(UpdateResult.Success));
            var r = await table.LookupAsync($"K{i % 20}");
            Assert.That(r, Is.EqualTo(LookupResult.Found($"v{i % 20}")));
        });
        await Task.WhenAll(tasks);
        Assert.That((await table.SequenceAsync()).Entries, Has.Count.EqualTo(20));
    }

    /// <summary>
    /// Issue 5: a backup lookup is microseconds of synchronous work; a caller that finds another
    /// operation in progress waits on its own thread and returns a completed result. (An
    /// asynchronous gate returned a pending task there and resumed the caller on the thread
    /// pool: a thread switch per contended lookup on the miss path.)
    /// </summary>
    [Test]
    public async Task Issue5_ContendedOperations_CompleteOnTheCallingThread()
    {
        await using var table = _factory.Open("lmdb:c", _dir.Path);
        for (int i = 0; i < 50; i++) Assert.That(await table.UpdateAsync($"k{i}", $"v{i}"), Is.EqualTo(UpdateResult.Success));
        int pending = 0, lookups = 0, readersDone = 0;
        var writer = Task.Run(() =>
        {
            for (int i = 0; Volatile.Read(ref readersDone) < 2; i++)
                if (!table.UpdateAsync($"k{i % 50}", $"v{i % 50}").IsCompleted) { Interlocked.Increment(ref pending); break; }
        });
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            try
            {
                for (int i = 0; i < 5000; i++)
                {
                    var r = table.LookupAsync($"K{i % 50}");
                    if (!r.IsCompleted) { Interlocked.Increment(ref pending); break; }
                    Assert.That(r.Result, Is.EqualTo(LookupResult.Found($"v{i % 50}")));
                    Interlocked.Increment(ref lookups);
                }
            }
            finally { Interlocked.Increment(ref readersDone); }
        })).ToArray();
        await Task.WhenAll([writer, .. readers]);
        Assert.That(pending, Is.Zero, "operations that returned before completing");
        Assert.That(lookups, Is.EqualTo(2 * 5000));
    }

    [Test]
    public async Task RunTimeLmdbError_KeyTooLong_IsTempErrorWithWarning()
    {
        await using var table = _factory.Open("lmdb:b", _dir.Path);
        string key = new('k', 600);                             // LMDB's key limit is 511 bytes
        Assert.That(await table.UpdateAsync(key, "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(_logs.Warnings, Has.One.StartWith("lmdb:b: update failed: "));
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound), "such a key cannot exist");
        Assert.That(await table.UpdateAsync("short", "v"), Is.EqualTo(UpdateResult.Success), "table still usable");
    }

    [Test]
    public async Task AfterDispose_Throws()
    {
        var table = _factory.Open("lmdb:d", _dir.Path);
        await table.DisposeAsync();
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await table.LookupAsync("k"));
    }
}
