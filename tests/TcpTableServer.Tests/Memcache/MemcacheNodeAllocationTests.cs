using TcpTableServer.Memcache;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// Choosing the node costs no allocation on the hit path: key hash (MD5 into a stack buffer)
/// and ring search down to the replica's node are exact zero-allocation code, measured on this
/// thread. (Node health, MemcacheNode.IsUsable, is not part of this measurement.)
/// (A whole-process comparison of hits through one and three real memcached nodes was tried
/// and dropped: on this shared machine single windows of the same map ranged 83-416 bytes per
/// lookup, so it could not tell a per-lookup allocation from scheduling noise.)
/// </summary>
[TestFixture, NonParallelizable]
public sealed class MemcacheNodeAllocationTests
{
    /// <summary>The node choice itself (key hash, ring search to a replica's node) allocates nothing: exact, on this thread.</summary>
    [Test]
    public void Choosing_the_node_allocates_nothing()
    {
        var ring = new KetamaRing([("10.0.0.1", 1), ("10.0.0.2", 1), ("10.0.0.3", 2)], replicas: 2);
        var keys = Enumerable.Range(0, 256).Select(i => $"user{i}@example.com").ToArray();
        Choose(ring, keys, 100_000);   // warm: tiered JIT and on-stack replacement allocate while they compile
        Choose(ring, keys, 100_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int sum = Choose(ring, keys, 100_000);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(sum, Is.GreaterThan(0));
    }

    private static int Choose(KetamaRing ring, string[] keys, int count)
    {
        int sum = 0;
        for (int i = 0; i < count; i++) sum += ring.Owner(ring.PointOf(keys[i & 255]), 1);
        return sum;
    }
}
