using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The set-up the interop vector suites share: one scripted memcached and the server binary
/// serving every configuration of spec 7.2 against it, for the whole fixture; before each test
/// the memcached forgets its items and traffic and the server log gets a mark.
/// </summary>
public abstract class ScriptedMemcachedFixture(BackupKind backup)
{
    private protected FakeMemcached _fake = null!;
    private protected VectorInteropRig _rig = null!;

    [OneTimeSetUp]
    public void StartServer()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _fake = new FakeMemcached();
        _rig = new VectorInteropRig(_fake.Endpoint, backup);
        // One lookup per protocol before any test: the first request of a fresh server runs
        // cold code (JIT) and the first postmap reads its files from disk; tests that time
        // "no retry_pause" (V17) must not measure that (they failed when run alone).
        foreach (var protocol in Enum.GetValues<Protocol>()) _rig.Query(protocol, "down", "warm-up@example.com");
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _rig?.Dispose();
        if (_fake is not null) await _fake.DisposeAsync();
    }

    [SetUp]
    public void ResetMemcachedAndLog()
    {
        _fake.Reset();
        _rig.MarkLog();
    }
}
