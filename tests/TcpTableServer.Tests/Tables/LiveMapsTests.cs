using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// A reload's swap (LiveMaps.Swap, then the reloader's DisposeAsync of the old set): the old
/// snapshot's tables are closed only after the last request holding it (a lease from
/// LiveMaps.Acquire) has given it back, so a request that started on the old snapshot finishes
/// on it; a map taken over unchanged (same fingerprint) stays open for the new set. Real map
/// sets (MapSet.Open: memcache tables on a real memcached, texthash backups) with the
/// reloader's TableRegistry, whose count shows when a backup instance has been closed.
/// </summary>
[TestFixture]
public sealed class LiveMapsTests
{
    private MemcachedProcess _mc = null!;
    private TempDir _dir = null!;
    private ListLogger _logs = null!;

    [SetUp]
    public void SetUp()
    {
        _mc = MemcachedProcess.Start();
        _dir = new TempDir();
        _logs = new ListLogger();
    }

    [TearDown]
    public void TearDown()
    {
        _mc.Dispose();
        _dir.Dispose();
        _logs.Dispose();
    }

    /// <summary>The configuration with map "changed" backed by <paramref name="changedBackup"/> and map "kept" as before.</summary>
    private ServerDefinition Load(string changedBackup)
    {
        _dir.Write("kept.cf", $"memcache = {_mc.Endpoint}\nbackup = texthash:kept.txt\nkey_format = kept-%s\n");
        _dir.Write("changed.cf", $"memcache = {_mc.Endpoint}\nbackup = texthash:{changedBackup}\nkey_format = {changedBackup}-%s\n");
        var ini = _dir.Write("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n[maps:kept]\nconfig = kept.cf\n[maps:changed]\nconfig = changed.cf\n");
        return ServerConfigLoader.Load(ini, _logs);
    }

    [Test]
    public async Task Swap_closes_the_old_sets_tables_only_after_the_request_holding_it_released_its_lease()
    {
        _dir.Write("kept.txt", "k kept\n");
        _dir.Write("old.txt", "k old\n");
        _dir.Write("new.txt", "k new\n");
        var registry = new TableRegistry();
        var live = new LiveMaps(MapSet.Open(Load("old.txt"), _logs, registry: registry));
        Assert.That(registry.Count, Is.EqualTo(2), "kept.txt and old.txt open");

        // A request batch takes the set, as the connection handlers do.
        var lease = live.Acquire();

        // The reload: open the next set (kept is taken over), publish it, drop the owner's reference.
        var next = MapSet.Open(Load("new.txt"), _logs, registry: registry, previous: live.Current);
        Assert.That(next.Reused, Is.EqualTo(new[] { "kept" }));
        var old = live.Swap(next);
        Assert.That(old, Is.SameAs(lease));
        await old.DisposeAsync();

        Assert.That(old.Released.IsCompleted, Is.False, "a request still holds the old set");
        Assert.That(registry.Count, Is.EqualTo(3), "old.txt is still open while the request holds its set");
        Assert.That(lease.TryGet("changed", out var changed), Is.True);
        Assert.That(await changed.LookupAsync("k"), Is.EqualTo(LookupResult.Found("old")),
            "the request that started on the old set finishes on it");

        var current = live.Acquire();
        Assert.That(current, Is.SameAs(next), "new requests take the new set");
        current.Release();

        lease.Release();
        await old.Released.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(registry.Count, Is.EqualTo(2), "old.txt closed with the last lease; kept.txt and new.txt open");
        Assert.That(await next.Tables["kept"].LookupAsync("k"), Is.EqualTo(LookupResult.Found("kept")),
            "the map taken over unchanged was not closed with the old set");
        Assert.That(await next.Tables["changed"].LookupAsync("k"), Is.EqualTo(LookupResult.Found("new")));

        await next.DisposeAsync();
        await next.Released.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(registry.Count, Is.Zero);
    }
}
