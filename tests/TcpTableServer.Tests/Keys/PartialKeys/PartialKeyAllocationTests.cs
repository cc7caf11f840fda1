using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Keys.PartialKeys;

/// <summary>
/// Allocation budget of the partial-key search itself, over a table that allocates nothing
/// (a dictionary answering synchronously, standing in for the map's stack): a full-key hit
/// costs nothing more than the map (the probes are computed only after the full key missed);
/// a hit on a later probe pays for its probe list and probe strings, within a bound.
/// End-to-end hit-path figures without partial_keys: HitPathAllocationTests.
/// </summary>
public sealed class PartialKeyAllocationTests
{
    private sealed class SyncTable(Dictionary<string, LookupResult> entries) : ITable
    {
        public string Name => "test:sync";
        public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) =>
            ValueTask.FromResult(entries.TryGetValue(key, out var r) ? r : LookupResult.NotFound);
        public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) => ValueTask.FromResult(UpdateResult.Fail);
        public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) => ValueTask.FromResult(UpdateResult.Fail);
        public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => ValueTask.FromResult(SequenceResult.Fail);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static double BytesPerLookup(string use, string key)
    {
        var table = new SyncTable(new Dictionary<string, LookupResult>(StringComparer.Ordinal)
        {
            ["user+ext@remote.test"] = LookupResult.Found("full@dest.test"),
            ["user@remote.test"] = LookupResult.Found("bob@dest.test"),
            ["192.0.2"] = LookupResult.Found("REJECT"),
        });
        var partial = new PartialKeyTable(table, PartialKeyProbeTests.Options(use, ("recipient_delimiter", "+"), ("propagate_unmatched_extensions", "")).Search);
        for (int i = 0; i < 1000; i++) _ = partial.LookupAsync(key).Result;   // warm up
        const int N = 10000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < N; i++)
            if (partial.LookupAsync(key).Result.Status != LookupStatus.Found) Assert.Fail("expected a hit");
        double bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)N;
        TestContext.Out.WriteLine($"{use} {key}: {bytes:F1} bytes per lookup");
        return bytes;
    }

    [Test]
    public void Full_key_hit_through_partial_keys_allocates_nothing()
    {
        Assert.That(BytesPerLookup("virtual", "user+ext@remote.test"), Is.LessThan(1));
        Assert.That(BytesPerLookup("transport", "user+ext@remote.test"), Is.LessThan(1));
    }

    [Test]
    public void Hit_on_a_later_probe_allocates_within_its_budget()
    {
        // the probe list, the stripped address, the async state of the search
        Assert.That(BytesPerLookup("virtual", "user+x@remote.test"), Is.LessThan(1024));
        Assert.That(BytesPerLookup("access", "192.0.2.1"), Is.LessThan(1024));
    }
}
