using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>How an update reaches the memcache table (spec 1.8, 3.5): the Postfix clients cannot update at all.</summary>
public enum UpdatePath
{
    /// <summary>`TcpTableServer --config INI put|delete MAP KEY [VALUE]` (exit 0 / 1 / 75 / 78).</summary>
    Cli,
    /// <summary>tcp `put KEY VALUE` on a map with <c>allow_put = yes</c> (200 ok / 500 not-updated / 400 ...).</summary>
    TcpPut,
}

/// <summary>
/// The update and delete vectors V73-V81 of spec 7.3 through the CLI verbs and the
/// tcp <c>put</c> extension of the server process, with the scripted memcached recording the
/// exact traffic and writable lmdb files as "backup" (one per map, initially empty; the CLI
/// and the server have their own copies, as Postfix's lmdb needs one writer at a time).
/// </summary>
[TestFixture, Category("Vector"), Category("Interop"), NonParallelizable]
public sealed class VectorInteropUpdateTests() : ScriptedMemcachedFixture(BackupKind.Lmdb)
{
    private VectorInteropRig _cli = null!;

    [OneTimeSetUp]
    public void StartCli() => _cli = new VectorInteropRig(_fake.Endpoint, BackupKind.Lmdb, serve: false);   // after the base's set-up

    [OneTimeTearDown]
    public void StopCli() => _cli?.Dispose();

    private VectorInteropRig Rig(UpdatePath path) => path == UpdatePath.Cli ? _cli : _rig;

    private enum Result { Success, Fail, Error }

    /// <summary>update(KEY, VALUE) over <paramref name="path"/>: asserts the result; returns the time taken and the warnings text.</summary>
    private (TimeSpan Elapsed, string Log) Put(UpdatePath path, string map, string key, string value, Result expected)
    {
        if (path == UpdatePath.Cli)
        {
            var r = _cli.Cli("put", map, key, value);
            int exit = expected switch { Result.Success => 0, Result.Fail => 1, _ => 75 };
            Assert.That(r.ExitCode, Is.EqualTo(exit), $"put exit code; stderr: {r.Stderr}");
            return (r.Elapsed, r.Stderr);
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string reply = RawSocket.Exchange(_rig.TcpPort(map), $"put {TcpQuote.Encode(key)} {TcpQuote.Encode(value)}\n");
        var elapsed = clock.Elapsed;
        string want = expected switch { Result.Success => "200 ok\n", Result.Fail => "500 not-updated\n", _ => "400 temporary-failure\n" };
        Assert.That(reply, Is.EqualTo(want), "tcp put reply (spec 1.8)");
        return (elapsed, "");
    }

    private void AssertTraffic(params string[] connections) =>
        Assert.That(() => _fake.Connections, Is.EqualTo(connections).After(2000, 20), "memcached traffic per connection");

    /// <summary>The warning, from the CLI's stderr or the server's log.</summary>
    private void AssertWarning(UpdatePath path, string log, string warning)
    {
        if (path == UpdatePath.Cli) Assert.That(log, Does.Contain(warning), "CLI warnings");
        else _rig.AssertWarning(warning);
    }

    /// <summary>The entries of the map's lmdb backup (`postmap -s`).</summary>
    private string[] Backup(UpdatePath path, string map)
    {
        var rig = Rig(path);
        return rig.Postfix.Dump($"lmdb:{rig.Directory}/backup-{map}");
    }

    [Test]
    public void V73_Ttl60dPassedVerbatimItemExpiresAtOnce([Values] UpdatePath path)
    {
        Put(path, "ttl60d", "k8", "v", Result.Success);
        var lookup = Rig(path) == _cli ? _cli.Cli("query", "ttl60d", "k8").ExitCode : _rig.Query(Protocol.Tcp, "ttl60d", "k8").Result.ExitCode;
        Assert.That(lookup, Is.EqualTo(1), "NOT FOUND: memcached took 5184000 as an absolute time in 1970");
        if (path == UpdatePath.Cli)
            AssertTraffic("set k8 0 5184000 1\r\nv\r\n", "get k8\r\n"); // two CLI processes: two connections
        else
            AssertTraffic("set k8 0 5184000 1\r\nv\r\nget k8\r\n");
    }

    [Test]
    public void V74_UpdateWithoutBackupSetsFoldedKey([Values] UpdatePath path)
    {
        Put(path, "aliases", "User@Example.com", "alice", Result.Success);
        AssertTraffic("set aliases:user@example.com 0 3600 5\r\nalice\r\n");
        Assert.That(_fake.Get("aliases:user@example.com"), Is.EqualTo(("alice", 0)));
    }

    [Test]
    public void V75_NotStoredTwiceNoBackupIsError([Values] UpdatePath path)
    {
        _fake.Inject("NOT_STORED\r\n", "NOT_STORED\r\n");
        var (elapsed, log) = Put(path, "plain", "k", "v", Result.Error);
        Assert.That(elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95), "one retry_pause");
        AssertTraffic("set k 0 3600 1\r\nv\r\nset k 0 3600 1\r\nv\r\n");   // NOT_STORED keeps the stream in step: same connection
        AssertWarning(path, log, "update failed: NOT_STORED");
    }

    [Test]
    public void V76_NotStoredTwiceBackupOkIsSuccess([Values] UpdatePath path)
    {
        _fake.Inject("NOT_STORED\r\n", "NOT_STORED\r\n");
        var (elapsed, log) = Put(path, "backed", "user@example.com", "v", Result.Success);
        Assert.That(elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95), "one retry_pause");
        AssertTraffic("set aliases:user@example.com 7 600 1\r\nv\r\nset aliases:user@example.com 7 600 1\r\nv\r\n");
        AssertWarning(path, log, "update failed: NOT_STORED");
        Assert.That(Backup(path, "backed"), Is.EqualTo(new[] { "user@example.com\tv" }), "the backup result wins");
    }

    [Test]
    public void V77_DomainRejectedUpdateFailsBackupUntouched([Values] UpdatePath path)
    {
        var (_, log) = Put(path, "dombk", "user@other.org", "v", Result.Fail);
        AssertTraffic();
        AssertWarning(path, log, "skipping update: domain mismatch");   // Postfix names the key: debug level here
        Assert.That(Backup(path, "dombk"), Is.Empty);
        if (path == UpdatePath.Cli)
            Assert.That(_cli.Cli("sequence", "dombk").Stdout, Is.Empty, "backup sequence(first): not found");
    }

    [Test]
    public void V78_ValueOverDataSizeLimitSkipsMemcacheBackupUpdated([Values] UpdatePath path)
    {
        var (_, log) = Put(path, "small", "k", "123456", Result.Success);
        AssertTraffic();
        AssertWarning(path, log, "data is too long (data_size_limit=5) -- not stored");
        Assert.That(Backup(path, "small"), Is.EqualTo(new[] { "k\t123456" }));
    }

    [Test]
    public void V79_DeleteExistingThenMissing_Cli()
    {
        _fake.Seed("aliases:user@example.com", "alice");
        Assert.That(_cli.Cli("delete", "aliases", "USER@example.com").ExitCode, Is.EqualTo(0), "SUCCESS (deleted)");
        Assert.That(_fake.Get("aliases:user@example.com"), Is.Null);
        Assert.That(_cli.Cli("delete", "aliases", "user@example.com").ExitCode, Is.EqualTo(1), "FAIL (not found)");
        // two CLI processes: two connections (one process would send both on conn1)
        AssertTraffic("delete aliases:user@example.com\r\n", "delete aliases:user@example.com\r\n");
    }

    [Test]
    public void V79_DeleteHasNoTcpCommand_Tcp()
    {
        // Spec 1.2/1.8: tcp has no delete request; the server answers 400 bad-request (S04) and touches nothing.
        _fake.Seed("aliases:user@example.com", "alice");
        Assert.That(RawSocket.Exchange(_rig.TcpPort("aliases"), "delete USER@example.com\n"), Is.EqualTo("400 bad-request\n"));
        AssertTraffic();
        Assert.That(_fake.Get("aliases:user@example.com"), Is.EqualTo(("alice", 0)));
    }

    [Test]
    public void V80_DeleteWithMemcachedDownIsError_Cli()
    {
        var r = _cli.Cli("delete", "down", "user@example.com");
        Assert.That(r.ExitCode, Is.EqualTo(75), r.Stderr);
        Assert.That(r.Stderr, Does.Contain($"connect to {_cli.DownEndpoint}: Connection refused"));
        Assert.That(r.Stderr.Split("Connection refused").Length - 1, Is.EqualTo(1), "no retry after a connect failure");
    }

    [Test]
    public void V81_NegativeFlagsClientErrorTwiceIsError([Values] UpdatePath path)
    {
        var (elapsed, log) = Put(path, "negflags", "k", "v", Result.Error);
        Assert.That(elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95), "one retry_pause");
        AssertTraffic();   // never sent: memcached would read the data block as a command (Memcache/UpdateDeleteVectorTests)
        Assert.That(_fake.Get("k"), Is.Null);
        AssertWarning(path, log, "update failed: CLIENT_ERROR bad command line format");
    }
}
