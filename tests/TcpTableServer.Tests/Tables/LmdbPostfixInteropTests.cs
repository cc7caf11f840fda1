using TcpTableServer.Tests.Support;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// LmdbTable against the real Postfix: files written by <c>postmap lmdb:</c> are read, and
/// our writes and deletes are exactly what <c>postmap -q</c> / <c>postmap -s</c> then see.
/// </summary>
[TestFixture]
public sealed class LmdbPostfixInteropTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;
    private Postfix _postfix = null!;
    private string _map = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _logs = new ListLogger();
        _postfix = new Postfix(_dir.Path);
        _map = "lmdb:" + _dir.File("x");
    }

    [TearDown]
    public void TearDown()
    {
        _dir.Dispose();
        _logs.Dispose();
    }

    private async Task CreateWithPostmapAsync(params string[] flags)
    {
        _dir.Write("x",
            "User@Example.COM   From Postmap\n" +
            "MiXeD              Value With  Spaces\n" +
            "other@example.com  x\n");
        _postfix.PostmapChecked([.. flags, _map]);
    }

    private ITable Open() => new TableFactory(_logs).Open("lmdb:x", _dir.Path, new TableOpenOptions(CreateMissing: true));

    [Test]
    public async Task ReadsPostmapFile_MixedCaseKeysFound_ValuesExact()
    {
        await CreateWithPostmapAsync();
        await using var table = Open();
        Assert.That(await table.LookupAsync("USER@example.com"), Is.EqualTo(LookupResult.Found("From Postmap")));
        Assert.That(await table.LookupAsync("mixed"), Is.EqualTo(LookupResult.Found("Value With  Spaces")));
        Assert.That(await table.LookupAsync("MIXED"), Is.EqualTo(LookupResult.Found("Value With  Spaces")));
        Assert.That(await table.LookupAsync("nobody@example.com"), Is.EqualTo(LookupResult.NotFound));
        Assert.That((await table.SequenceAsync()).Entries.Select(e => $"{e.Key}\t{e.Value}").Order(StringComparer.Ordinal),
            Is.EqualTo(_postfix.Dump(_map)));
    }

    [Test]
    public async Task WritesAndDeletes_AreExactlyWhatPostfixSees()
    {
        await CreateWithPostmapAsync();
        await using (var table = Open())
        {
            Assert.That(await table.UpdateAsync("New@Example.COM", "added value"), Is.EqualTo(UpdateResult.Success));
            Assert.That(await table.UpdateAsync("USER@EXAMPLE.COM", "replaced"), Is.EqualTo(UpdateResult.Success));
            Assert.That(await table.DeleteAsync("Other@Example.Com"), Is.EqualTo(UpdateResult.Success));
            Assert.That(await table.DeleteAsync("absent"), Is.EqualTo(UpdateResult.Fail));

            // visible to Postfix while we keep the table open
            Assert.That(_postfix.Value("NEW@example.com", _map), Is.EqualTo("added value"));
        }
        Assert.That(_postfix.Value("user@example.com", _map), Is.EqualTo("replaced"));
        Assert.That(_postfix.Value("other@example.com", _map), Is.Null);
        Assert.That(_postfix.Dump(_map), Is.EqualTo(new[]
        {
            "mixed\tValue With  Spaces",
            "new@example.com\tadded value",
            "user@example.com\treplaced",
        }));
    }

    [Test]
    public async Task FileCreatedByUs_IsReadableByPostfix()
    {
        await using (var table = Open())
        {
            await table.UpdateAsync("A", "1");
            await table.UpdateAsync("b@X", "two words");
        }
        Assert.That(_postfix.Dump(_map), Is.EqualTo(new[] { "a\t1", "b@x\ttwo words" }));
        Assert.That(_postfix.Value("B@x", _map), Is.EqualTo("two words"));
    }

    [Test]
    public async Task StoresKeyAndValueNulTerminated_LikePostmap()
    {
        await using (var table = Open())
            await table.UpdateAsync("Key", "value");
        var dump = await DumpRawAsync();
        Assert.That(dump, Does.Contain(" key\\00\n value\\00\n"));
    }

    [Test]
    public async Task FileWithoutNul_PostmapN_IsReadAndWrittenInItsOwnStyle()
    {
        await CreateWithPostmapAsync("-n");
        await using (var table = Open())
        {
            Assert.That(await table.LookupAsync("user@example.com"), Is.EqualTo(LookupResult.Found("From Postmap")));
            Assert.That(await table.UpdateAsync("Added", "v"), Is.EqualTo(UpdateResult.Success));
            Assert.That(await table.DeleteAsync("mixed"), Is.EqualTo(UpdateResult.Success));
        }
        var dump = await DumpRawAsync();
        Assert.That(dump, Does.Contain(" added\n v\n").And.Not.Contain("\\00"));
        Assert.That(_postfix.Value("ADDED", _map), Is.EqualTo("v"));
        Assert.That(_postfix.Value("mixed", _map), Is.Null);
    }

    [Test]
    public async Task GrowthBeyondDefaultMap_IsReadableByPostfix()
    {
        string big = new('x', 512 * 1024);
        await using (var table = Open())
            for (int i = 0; i < 30; i++)                       // 15 MiB > 10 MiB default map
                Assert.That(await table.UpdateAsync($"K{i}", big), Is.EqualTo(UpdateResult.Success));
        Assert.That(_postfix.Value("k29", _map), Has.Length.EqualTo(big.Length));
        await using var again = Open();
        Assert.That((await again.SequenceAsync()).Entries, Has.Count.EqualTo(30));
    }

    [Test]
    public async Task PostfixGrowsTheFileWhileWeHaveItOpen_WeFollow()
    {
        await CreateWithPostmapAsync();
        await using var handle = Open();
        var table = (LmdbTable)((TableRegistry.SharedTable)handle).Inner;
        Assert.That(await table.LookupAsync("mixed"), Is.EqualTo(LookupResult.Found("Value With  Spaces")));
        long mapBefore = table.MapSize;

        string big = new('y', 512 * 1024);
        var input = string.Concat(Enumerable.Range(0, 40).Select(i => $"Big{i} {big}\n"));
        _postfix.PostmapChecked(["-i", _map], input);          // 20 MiB added by Postfix
        Assert.That(new FileInfo(_dir.File("x.lmdb")).Length, Is.GreaterThan(mapBefore));

        Assert.That(await table.LookupAsync("BIG39"), Is.EqualTo(LookupResult.Found(big)));
        Assert.That(table.MapSize, Is.GreaterThanOrEqualTo(new FileInfo(_dir.File("x.lmdb")).Length), "map follows the file");
        Assert.That(await table.UpdateAsync("after", "growth"), Is.EqualTo(UpdateResult.Success));
        Assert.That((await table.SequenceAsync()).Entries, Has.Count.EqualTo(3 + 40 + 1));
        Assert.That(_postfix.Value("after", _map), Is.EqualTo("growth"));
    }

    /// <summary>
    /// Another process holds Postfix's write lock (a whole-file F_WRLCK, as postmap -i takes it)
    /// for 2 s: a lookup and an update started meanwhile wait for the release, then succeed;
    /// neither reads nor writes under the other process's lock, neither answers TempError.
    /// </summary>
    [Test]
    public async Task AnotherProcessHoldsTheWriteLock_LookupAndUpdateWaitForTheRelease()
    {
        await CreateWithPostmapAsync();
        await using var table = Open();
        Assert.That(await table.LookupAsync("mixed"), Is.EqualTo(LookupResult.Found("Value With  Spaces")));

        const string Holder = "import fcntl, sys, time\n" +
            "f = open(sys.argv[1], 'r+b')\n" +
            "fcntl.lockf(f, fcntl.LOCK_EX)\n" +
            "print('locked', flush=True)\n" +
            "time.sleep(2)\n";                                 // the lock goes with the process
        var psi = new System.Diagnostics.ProcessStartInfo("python3", ["-c", Holder, _dir.File("x.lmdb")])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var holder = System.Diagnostics.Process.Start(psi)!;
        Assert.That(await holder.StandardOutput.ReadLineAsync(), Is.EqualTo("locked"));
        var held = System.Diagnostics.Stopwatch.StartNew();
        async Task<(T Result, TimeSpan At)> Timed<T>(ValueTask<T> operation) => (await operation, held.Elapsed);
        var lookup = Timed(table.LookupAsync("MIXED"));
        var update = Timed(table.UpdateAsync("during", "the lock"));

        var (found, lookupAt) = await lookup;
        var (updated, updateAt) = await update;
        Assert.That(found, Is.EqualTo(LookupResult.Found("Value With  Spaces")));
        Assert.That(updated, Is.EqualTo(UpdateResult.Success));
        Assert.That(lookupAt, Is.GreaterThan(TimeSpan.FromSeconds(1)), "the lookup waited for the release");
        Assert.That(updateAt, Is.GreaterThan(TimeSpan.FromSeconds(1)), "the update waited for the release");
        await holder.WaitForExitAsync();
        Assert.That(holder.ExitCode, Is.Zero, "the lock holder");
        Assert.That(_postfix.Value("during", _map), Is.EqualTo("the lock"));
    }

    /// <summary>mdb_dump -p: printable dump, NUL bytes shown as \00.</summary>
    private async Task<string> DumpRawAsync()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("mdb_dump", ["-n", "-p", _dir.File("x.lmdb")])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.That(p.ExitCode, Is.Zero, "mdb_dump");
        return output;
    }
}
