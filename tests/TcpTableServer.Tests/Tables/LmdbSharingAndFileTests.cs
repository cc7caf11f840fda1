using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// One lmdb instance per file per process (Postfix's dict_register), a missing backup file as
/// a start-up error naming the parameter's file and line (Postfix: "open database FILE: No
/// such file or directory"), creation only with backup_create = yes, and a file replaced at
/// its path being reopened instead of written as an unlinked inode.
/// </summary>
[TestFixture]
public sealed class LmdbSharingAndFileTests
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

    private ServerDefinition Load(string maps, string cf)
    {
        _dir.Write("m.cf", cf);
        var ini = _dir.Write("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n{maps}");
        return ServerConfigLoader.Load(ini, _logs);
    }

    /// <summary>The shared lmdb instance behind a map's backup (through the UTF-8 layers of smtputf8_enable = yes).</summary>
    private static ITable BackupOf(MapSet maps, string name) =>
        ((TableRegistry.SharedTable)Bare(((MemcacheTable)Bare(maps.Tables[name])).Settings.Backup!)).Inner;

    private static ITable Bare(ITable t) => t is Utf8Table u ? u.Inner : t;

    /// <summary>Two maps with one lmdb backup (one spelled through a symbolic link) share one instance.</summary>
    [Test]
    public async Task TwoMapsNamingOneLmdbFile_ShareOneInstance_UntilTheLastIsClosed()
    {
        File.WriteAllBytes(_dir.File("b.lmdb"), []);
        await using (var seed = new TableFactory(_logs).Open("lmdb:b", _dir.Path, new TableOpenOptions(CreateMissing: true))) { }
        Directory.CreateSymbolicLink(_dir.File("link"), _dir.Path);
        _dir.Write("other.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = lmdb:{_dir.File("link/b")}\n");
        var def = Load("[maps:a]\nconfig = m.cf\n[maps:c]\nconfig = other.cf\n",
            $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = lmdb:b\n");
        var registry = new TableRegistry();
        var first = MapSet.Open(def, _logs, registry: registry);
        Assert.That(BackupOf(first, "a"), Is.SameAs(BackupOf(first, "c")));
        Assert.That(registry.Count, Is.EqualTo(1));

        // a reload: the new map set shares the instance while the old one is still open
        var second = MapSet.Open(def, _logs, registry: registry);
        Assert.That(BackupOf(second, "a"), Is.SameAs(BackupOf(first, "a")));
        await first.DisposeAsync();
        Assert.That(await BackupOf(second, "a").UpdateAsync("k", "v"), Is.EqualTo(UpdateResult.Success), "still open for the new set");
        await second.DisposeAsync();
        Assert.That(registry.Count, Is.Zero, "the last handle closed it");
    }

    /// <summary>Spec 3.11: the backup file is missing: refuse to start, naming the .cf file and line and the database file.</summary>
    [Test]
    public void MissingBackupFile_IsStartUpError_NamingFileAndLine()
    {
        var def = Load("[maps:a]\nconfig = m.cf\n", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\n# the backup\nbackup = lmdb:missing\n");
        var e = Assert.Throws<ConfigException>(() => MapSet.Open(def, _logs))!;
        Assert.That(e.File, Is.EqualTo(_dir.File("m.cf")));
        Assert.That(e.Line, Is.EqualTo(3));
        Assert.That(e.Message, Does.Contain($"open database {_dir.File("missing.lmdb")}: No such file or directory"));
        Assert.That(File.Exists(_dir.File("missing.lmdb")), Is.False, "nothing created");
    }

    /// <summary>The same when the backup is named in the INI map section: the INI file and line.</summary>
    [Test]
    public void MissingBackupFile_NamedInIni_IsStartUpError_NamingIniLine()
    {
        var def = Load("[maps:a]\nconfig = m.cf\nbackup = lmdb:missing\n", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\n");
        var e = Assert.Throws<ConfigException>(() => MapSet.Open(def, _logs))!;
        Assert.That(e.File, Is.EqualTo(_dir.File("server.ini")));
        Assert.That(e.Line, Is.EqualTo(6));
    }

    /// <summary>backup_create = yes: a missing file is created empty (the opt-in).</summary>
    [Test]
    public async Task MissingBackupFile_WithBackupCreate_IsCreated()
    {
        var def = Load("[maps:a]\nconfig = m.cf\nbackup_create = yes\n", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = lmdb:new\n");
        await using var maps = MapSet.Open(def, _logs);
        Assert.That(File.Exists(_dir.File("new.lmdb")), Is.True);
    }

    /// <summary>
    /// Two maps that create one missing file share one instance: the registry key does not
    /// change when the first map's open creates the file (the second map must not open a second
    /// environment, with its own writer thread, on the file the first has just created).
    /// </summary>
    [Test]
    public async Task TwoMapsCreatingOneMissingFile_ShareOneInstance()
    {
        var def = Load("[maps:a]\nconfig = m.cf\nbackup_create = yes\n[maps:b]\nconfig = m.cf\nbackup_create = yes\n",
            $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = lmdb:new\n");
        var registry = new TableRegistry();
        await using var maps = MapSet.Open(def, _logs, registry: registry);
        Assert.That(File.Exists(_dir.File("new.lmdb")), Is.True);
        Assert.That(registry.Count, Is.EqualTo(1));
        Assert.That(BackupOf(maps, "a"), Is.SameAs(BackupOf(maps, "b")));
    }

    /// <summary>A symbolic link to the database file itself names the same instance.</summary>
    [Test]
    public async Task SymbolicLinkToTheFile_SharesTheInstance()
    {
        var registry = new TableRegistry();
        var factory = new TableFactory(_logs, registry);
        await using var direct = factory.Open("lmdb:b", _dir.Path, new TableOpenOptions(CreateMissing: true));
        File.CreateSymbolicLink(_dir.File("alias.lmdb"), "b.lmdb");
        await using var viaLink = factory.Open("lmdb:alias", _dir.Path);
        Assert.That(((TableRegistry.SharedTable)viaLink).Inner, Is.SameAs(((TableRegistry.SharedTable)direct).Inner));
        Assert.That(registry.Count, Is.EqualTo(1));
    }

    /// <summary>
    /// A file replaced at the path (rename over it, as a deployment does) is reopened before the
    /// next write: the update lands in the new file, which Postfix then sees, and lookups answer
    /// from it. (The fault guarded: the write went into the replaced, unlinked inode and was lost.)
    /// </summary>
    [Test]
    public async Task ReplacedFile_IsReopened_WritesLandInTheNewFile()
    {
        var postfix = new Postfix(_dir.Path);
        _dir.Write("b", "k old\n");
        postfix.PostmapChecked(["lmdb:" + _dir.File("b")]);
        await using var table = new TableFactory(_logs).Open("lmdb:b", _dir.Path);
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("old")));

        _dir.Write("n", "k new\n");
        postfix.PostmapChecked(["lmdb:" + _dir.File("n")]);
        File.Move(_dir.File("n.lmdb"), _dir.File("b.lmdb"), overwrite: true);

        Assert.That(await table.UpdateAsync("added", "1"), Is.EqualTo(UpdateResult.Success));
        Assert.That(postfix.Value("added", "lmdb:" + _dir.File("b")), Is.EqualTo("1"), "the write is in the file at the path");
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("new")));
        Assert.That(_logs.Warnings, Has.Some.Contains("was replaced; reopening it"));
    }

    /// <summary>A removed file: writes and (after the periodic check) lookups fail with TempError, never into the unlinked inode.</summary>
    [Test]
    public async Task RemovedFile_WritesAndLookupsFail_ThenReopenedWhenBack()
    {
        var postfix = new Postfix(_dir.Path);
        _dir.Write("b", "k v\n");
        postfix.PostmapChecked(["lmdb:" + _dir.File("b")]);
        await using var table = new TableFactory(_logs).Open("lmdb:b", _dir.Path);
        File.Move(_dir.File("b.lmdb"), _dir.File("aside.lmdb"));
        Assert.That(await table.UpdateAsync("lost", "1"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(_logs.Warnings, Has.Some.Contains("the file was removed"));

        File.Move(_dir.File("aside.lmdb"), _dir.File("b.lmdb"));
        await Task.Delay(1100);                                  // reopen attempts: once a second
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(postfix.Value("lost", "lmdb:" + _dir.File("b")), Is.Null);
    }
}
