using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The vectors that are about cache contents, flags and ttl, through the server
/// process and real Postfix against a real memcached 1.6 (the scripted one cannot prove what
/// memcached does with a ttl or negative flags).
/// </summary>
[TestFixture, Category("Vector"), Category("Interop"), NonParallelizable]
public sealed class VectorInteropRealMemcachedTests
{
    private MemcachedProcess _mc = null!;
    private VectorInteropRig _rig = null!;

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _mc = MemcachedProcess.Start();
        _rig = new VectorInteropRig(_mc.Endpoint, BackupKind.Texthash);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _rig?.Dispose();
        _mc?.Dispose();
    }

    [SetUp]
    public void Reset()
    {
        _mc.FlushAll();
        _rig.MarkLog();
    }

    [Test]
    public void V14_RefillStoredWithFlags7AndTtl600([Values] Protocol p)
    {
        var (r, _) = _rig.Query(p, "backed", "User@Example.com");
        Outcome.Found("from-backup").AssertPostmap(r, p);
        Assert.That(_mc.Get("aliases:user@example.com"), Is.EqualTo(("from-backup", 7)));
        Assert.That(VectorInteropRig.RemainingTtl(_mc, "aliases:user@example.com"), Is.InRange(590, 600));
    }

    [Test]
    public void V23_OversizedRefillNotStored([Values] Protocol p)
    {
        Outcome.Found("0123456789").AssertPostmap(_rig.Query(p, "small", "k6").Result, p);
        Assert.That(_mc.Get("k6"), Is.Null);
    }

    [Test]
    public void V73_Ttl60dItemExpiresAtOnce_TcpPutThenPostmap([Values] Protocol p)
    {
        Assert.That(RawSocket.Exchange(_rig.TcpPort("ttl60d"), "put k8 v\n"), Is.EqualTo("200 ok\n"), "memcached answered STORED");
        Outcome.NotFound.AssertPostmap(_rig.Query(p, "ttl60d", "k8").Result, p);
        Assert.That(_mc.Get("k8"), Is.Null);
    }

    [Test]
    public void V74_UpdateSetsTtl3600Flags0_CliAndTcpPut()
    {
        Assert.That(_rig.Cli("put", "aliases", "User@Example.com", "alice").ExitCode, Is.EqualTo(0));
        Assert.That(_mc.Get("aliases:user@example.com"), Is.EqualTo(("alice", 0)));
        Assert.That(VectorInteropRig.RemainingTtl(_mc, "aliases:user@example.com"), Is.InRange(3590, 3600));
        Assert.That(RawSocket.Exchange(_rig.TcpPort("aliases"), "put Other@Example.com bob\n"), Is.EqualTo("200 ok\n"));
        Assert.That(_mc.Get("aliases:other@example.com"), Is.EqualTo(("bob", 0)));
        Assert.That(VectorInteropRig.RemainingTtl(_mc, "aliases:other@example.com"), Is.InRange(3590, 3600));
        foreach (var p in new[] { Protocol.Socketmap, Protocol.Tcp })
            Outcome.Found("bob").AssertPostmap(_rig.Query(p, "aliases", "other@example.com").Result, p);
    }

    [Test]
    public void V79_DeleteExistingThenMissing_Cli()
    {
        _mc.Set("aliases:user@example.com", "alice");
        Assert.That(_rig.Cli("delete", "aliases", "USER@example.com").ExitCode, Is.EqualTo(0));
        Assert.That(_mc.Get("aliases:user@example.com"), Is.Null);
        Assert.That(_rig.Cli("delete", "aliases", "user@example.com").ExitCode, Is.EqualTo(1));
    }

    [Test]
    public void V81_NegativeFlagsRejectedByMemcached_TcpPut()
    {
        Assert.That(RawSocket.Exchange(_rig.TcpPort("negflags"), "put k v\n"), Is.EqualTo("400 temporary-failure\n"));
        Assert.That(_mc.Get("k"), Is.Null);
        _rig.AssertWarning("update failed: CLIENT_ERROR bad command line format");
    }
}
