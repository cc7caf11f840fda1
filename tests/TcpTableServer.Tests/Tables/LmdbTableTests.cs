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

    private static readonly TableOpenOptions Create = new(CreateMissing: true);

    /// <summary>A writable table on a new file (backup_create = yes).</summary>
    private ITable OpenNew(string spec) => _factory.Open(spec, _dir.Path, Create);

    private static LmdbTable Lmdb(ITable handle) => (LmdbTable)((TableRegistry.SharedTable)handle).Inner;

    [Test]
    public async Task MissingFile_WithBackupCreate_IsCreatedEmpty()
    {
        await using var table = OpenNew("lmdb:backup");
        Assert.That(File.Exists(_dir.File("backup.lmdb")), Is.True);
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.NotFound));
        Assert.That((await table.SequenceAsync()).Entries, Is.Empty);
    }

    [Test]
    public async Task NativeLibrary_IsTheSystemLiblmdb_NotTheBundledOne()
    {
        await using var table = OpenNew("lmdb:b");
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
        var e = Assert.Throws<ConfigException>(() => OpenNew("lmdb:no/such/dir/backup"));
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
        await using var table = OpenNew("lmdb:b");
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
        await using var table = OpenNew("lmdb:b");
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
        await using var table = OpenNew("lmdb:b");
        string key = Octets.FromUtf8("JÖRG@x"), value = "\u00FF\u00C3(";
        Assert.That(await table.UpdateAsync(key, value), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jÖrg@x")), Is.EqualTo(LookupResult.Found(value)));
        Assert.That(await table.LookupAsync(Octets.FromUtf8("jörg@x")), Is.EqualTo(LookupResult.NotFound));
    }

    [Test]
    public async Task Data_SurvivesReopen()
    {
        await using (var table = OpenNew("lmdb:b"))
            await table.UpdateAsync("k", "v");
        await using var again = OpenNew("lmdb:b");
        Assert.That(await again.LookupAsync("K"), Is.EqualTo(LookupResult.Found("v")));
    }

    [Test]
    public async Task ManyLargeEntries_GrowTheMap()
    {
        await using var handle = OpenNew("lmdb:big");
        var table = Lmdb(handle);
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
        await using var table = OpenNew("lmdb:c");
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
    /// A backup lookup is microseconds of synchronous work; concurrent lookups share the
    /// gate and complete on the calling thread (no thread switch on the memcache miss path). The
    /// only ones handed to the writer thread are the one-a-second path checks, so at least 99%
    /// complete synchronously. Writes, in contrast, always complete on the writer thread.
    /// </summary>
    [Test]
    public async Task ConcurrentLookups_CompleteOnTheCallingThread()
    {
        await using var table = OpenNew("lmdb:c");
        for (int i = 0; i < 50; i++) Assert.That(await table.UpdateAsync($"k{i}", $"v{i}"), Is.EqualTo(UpdateResult.Success));
        int pending = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < 5000; i++)
            {
                var r = table.LookupAsync($"K{i % 50}");
                if (!r.IsCompleted) Interlocked.Increment(ref pending);
                Assert.That(await r, Is.EqualTo(LookupResult.Found($"v{i % 50}")));
            }
        })).ToArray();
        await Task.WhenAll(readers);
        Assert.That(pending, Is.LessThanOrEqualTo(100), "lookups that did not complete on the calling thread");
    }

    [Test]
    public async Task RunTimeLmdbError_KeyTooLong_IsTempErrorWithWarning()
    {
        await using var table = OpenNew("lmdb:b");
        string key = new('k', 600);                             // LMDB's key limit is 511 bytes
        Assert.That(await table.UpdateAsync(key, "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(_logs.Warnings, Has.One.StartWith("lmdb:b: update failed: "));
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound), "such a key cannot exist");
        Assert.That(await table.UpdateAsync("short", "v"), Is.EqualTo(UpdateResult.Success), "table still usable");
    }

    [Test]
    public async Task AfterDispose_Throws()
    {
        var table = OpenNew("lmdb:d");
        await table.DisposeAsync();
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await table.LookupAsync("k"));
    }

    [Test]
    public async Task Log_storm_a_repeated_lmdb_warning_is_written_once_then_summarised()
    {
        // Every put of a key longer than LMDB's limit fails alike: one warning, not one per put.
        await using (var table = OpenNew("lmdb:backup"))
        {
            string key = new('k', 600);
            for (int i = 0; i < 200; i++)
                Assert.That((await table.UpdateAsync(key, "v")).Status, Is.EqualTo(UpdateStatus.TempError));
            Assert.That(_logs.Warnings.Count(w => w.Contains("longer than LMDB's limit")), Is.EqualTo(1), string.Join("\n", _logs.Warnings));
        }
        // Closing the table writes the summary of what was held back.
        Assert.That(_logs.Warnings, Has.One.Contains("keys too long for LMDB: 199 more in the last 10 s"));
    }
}
