using System.Text;
using TcpTableServer.Caching;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Protocols;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// The L1 cache decorator: hits without inner calls, TTL expiry, negative
/// caching, errors never cached, coalesced misses, the size bound, invalidation by update
/// and delete. Against a real memcached (inner calls counted by memcached's own cmd_get)
/// wherever it can show the behaviour; <see cref="TableDouble"/> only to hold a lookup in
/// flight or to inject errors and exceptions.
/// </summary>
public sealed class CachedTableTests
{
    private static readonly L1Options FiveSeconds = new(TimeSpan.FromSeconds(5), 1000, TimeSpan.Zero);

    private MemcachedProcess mc = null!;
    private long now = 1_000_000;
    private int keyCounter;

    [OneTimeSetUp]
    public void StartMemcached() => mc = MemcachedProcess.Start();

    [OneTimeTearDown]
    public void StopMemcached() => mc.Dispose();

    private long Clock() => Interlocked.Read(ref now);

    private void Advance(TimeSpan by) => Interlocked.Add(ref now, (long)by.TotalMilliseconds);

    /// <summary>A key no other test uses (the fixture shares one memcached).</summary>
    private string NewKey() => $"k{Interlocked.Increment(ref keyCounter)}@example.com";

    private CachedTable OverMemcached(L1Options options, bool foldKeys = true)
    {
        var parameters = new Dictionary<string, ConfigValue>(StringComparer.Ordinal)
        {
            ["memcache"] = new("memcache", mc.Endpoint, "test.cf", 1),
            ["fold_keys"] = new("fold_keys", foldKeys ? "yes" : "no", "test.ini", 2),
        };
        var loggers = new ListLogger();
        var inner = MemcacheTable.Open("l1test", parameters, new TableFactory(loggers), Path.GetTempPath(), loggers);
        return new CachedTable(inner, options, inner.Settings.FoldKeys, Clock);
    }

    /// <summary>Holds every lookup of <paramref name="inner"/> in flight until its Gate is set.</summary>
    private static TableDouble Gated(TableDouble inner)
    {
        inner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return inner;
    }

    private CachedTable Over(TableDouble inner, L1Options options, bool foldKeys = true) =>
        new(inner, options, foldKeys, Clock);

    /// <summary>memcached's count of get commands: every inner lookup sends exactly one.</summary>
    private long CmdGet()
    {
        string stats = Encoding.Latin1.GetString(mc.Raw("stats\r\n"u8.ToArray(), "END\r\n"));
        string line = stats.Split("\r\n").Single(l => l.StartsWith("STAT cmd_get ", StringComparison.Ordinal));
        return long.Parse(line["STAT cmd_get ".Length..]);
    }

    [Test]
    public async Task Hit_IsServedFromL1_Synchronously_WithoutMemcachedGet()
    {
        await using var table = OverMemcached(FiveSeconds);
        string key = NewKey();
        mc.Set(key, "v1");
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
        long gets = CmdGet();

        mc.Set(key, "v2");                                   // changed behind the L1's back
        var hit = table.LookupAsync(key);
        Assert.That(hit.IsCompletedSuccessfully, Is.True, "a hit completes without a Task");
        Assert.That(hit.Result, Is.EqualTo(LookupResult.Found("v1")), "stale within l1_ttl");
        Assert.That(CmdGet(), Is.EqualTo(gets), "no memcached get for a hit");
    }

    [Test]
    public async Task Hit_AllocatesNothing()
    {
        var inner = new TableDouble().With("hot@x", "v");
        await using var table = Over(inner, FiveSeconds);
        Assert.That(await table.LookupAsync("hot@x"), Is.EqualTo(LookupResult.Found("v")));
        for (int i = 0; i < 1000; i++) _ = table.LookupAsync("hot@x").Result;   // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            if (table.LookupAsync("hot@x").Result.Value is null) Assert.Fail("miss");
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(inner.LookedUp, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Ttl_ExpiredEntryIsLookedUpAgain()
    {
        await using var table = OverMemcached(FiveSeconds);
        string key = NewKey();
        mc.Set(key, "v1");
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
        mc.Set(key, "v2");

        Advance(TimeSpan.FromMilliseconds(4999));
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")), "still fresh");
        Advance(TimeSpan.FromMilliseconds(1));
        long gets = CmdGet();
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v2")), "expired at l1_ttl");
        Assert.That(CmdGet(), Is.EqualTo(gets + 1));
    }

    [Test]
    public async Task NegativeTtlZero_NotFoundIsNotCached()
    {
        await using var table = OverMemcached(FiveSeconds);
        string key = NewKey();
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound));
        mc.Set(key, "v1");
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
    }

    [Test]
    public async Task NegativeTtl_NotFoundIsCachedForItsOwnTtl()
    {
        await using var table = OverMemcached(FiveSeconds with { NegativeTtl = TimeSpan.FromSeconds(1) });
        string key = NewKey();
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound));
        mc.Set(key, "v1");
        long gets = CmdGet();
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound), "negative hit");
        Assert.That(CmdGet(), Is.EqualTo(gets));

        Advance(TimeSpan.FromSeconds(1));                    // l1_negative_ttl, not l1_ttl
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
    }

    [Test]
    public async Task Errors_AreNeverCached()
    {
        var inner = new TableDouble().With("a@x", LookupResult.TempError).With("b@x", LookupResult.ConfigError);
        await using var table = Over(inner, FiveSeconds with { NegativeTtl = TimeSpan.FromSeconds(5) });
        Assert.That(await table.LookupAsync("a@x"), Is.EqualTo(LookupResult.TempError));
        Assert.That(await table.LookupAsync("b@x"), Is.EqualTo(LookupResult.ConfigError));
        inner.With("a@x", "back").With("b@x", "fixed");
        Assert.That(await table.LookupAsync("a@x"), Is.EqualTo(LookupResult.Found("back")));
        Assert.That(await table.LookupAsync("b@x"), Is.EqualTo(LookupResult.Found("fixed")));
        Assert.That(inner.LookedUp, Is.EqualTo(new[] { "a@x", "b@x", "a@x", "b@x" }));
    }

    [Test]
    public async Task Coalescing_ConcurrentMissesShareOneInnerLookup()
    {
        var inner = Gated(new TableDouble().With("hot@x", "v"));
        await using var table = Over(inner, FiveSeconds);
        var lookups = Enumerable.Range(0, 50).Select(i => table.LookupAsync(i % 2 == 0 ? "hot@x" : "HOT@X").AsTask()).ToArray();
        await inner.Entered.Task;
        Assert.That(lookups.Any(t => t.IsCompleted), Is.False, "all wait for the one flight");
        inner.Gate!.SetResult();

        var results = await Task.WhenAll(lookups);
        Assert.That(results, Is.All.EqualTo(LookupResult.Found("v")));
        Assert.That(inner.LookedUp, Is.EqualTo(new[] { "hot@x" }), "one inner lookup, with the folded key");
    }

    [Test]
    public async Task Coalescing_AnErrorIsSharedWithTheWaitersButNotCached()
    {
        var inner = Gated(new TableDouble().With("k@x", LookupResult.TempError));
        await using var table = Over(inner, FiveSeconds);
        var lookups = Enumerable.Range(0, 10).Select(_ => table.LookupAsync("k@x").AsTask()).ToArray();
        await inner.Entered.Task;
        inner.Gate!.SetResult();
        Assert.That(await Task.WhenAll(lookups), Is.All.EqualTo(LookupResult.TempError));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(1));

        inner.Gate = null;
        inner.With("k@x", "ok");
        Assert.That(await table.LookupAsync("k@x"), Is.EqualTo(LookupResult.Found("ok")));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Coalescing_AnInnerExceptionReachesEveryWaiter_AndIsNotCached()
    {
        var inner = Gated(new TableDouble().Throwing("k@x", new IOException("boom")));
        await using var table = Over(inner, FiveSeconds);
        var lookups = Enumerable.Range(0, 5).Select(_ => table.LookupAsync("k@x").AsTask()).ToArray();
        await inner.Entered.Task;
        inner.Gate!.SetResult();
        foreach (var t in lookups)
            Assert.ThrowsAsync<IOException>(async () => await t);
        Assert.That(inner.LookedUp, Has.Count.EqualTo(1));

        inner.Gate = null;
        Assert.ThrowsAsync<IOException>(async () => await table.LookupAsync("k@x"));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(2), "not cached: asked again");
    }

    [Test]
    public async Task Coalescing_ACancelledWaiterLeavesTheFlightToTheOthers()
    {
        var inner = Gated(new TableDouble().With("k@x", "v"));
        await using var table = Over(inner, FiveSeconds);
        using var cts = new CancellationTokenSource();
        var cancelled = table.LookupAsync("k@x", cts.Token).AsTask();
        var other = table.LookupAsync("k@x").AsTask();
        await inner.Entered.Task;
        cts.Cancel();
        Assert.That(async () => await cancelled, Throws.InstanceOf<OperationCanceledException>());
        inner.Gate!.SetResult();
        Assert.That(await other, Is.EqualTo(LookupResult.Found("v")));
        Assert.That(await table.LookupAsync("k@x"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task FoldKeys_MixedCaseKeysShareAnEntry_OnlyWhenTheMapFolds()
    {
        var folding = new TableDouble().With("user@x", "v");
        await using (var table = Over(folding, FiveSeconds, foldKeys: true))
        {
            Assert.That(await table.LookupAsync("User@X"), Is.EqualTo(LookupResult.Found("v")));
            Assert.That(await table.LookupAsync("user@x"), Is.EqualTo(LookupResult.Found("v")));
            Assert.That(await table.LookupAsync("USER@x"), Is.EqualTo(LookupResult.Found("v")));
        }
        Assert.That(folding.LookedUp, Is.EqualTo(new[] { "user@x" }));

        var exact = new TableDouble().With("user@x", "lower").With("User@X", "upper");
        await using (var table = Over(exact, FiveSeconds, foldKeys: false))
        {
            Assert.That(await table.LookupAsync("User@X"), Is.EqualTo(LookupResult.Found("upper")));
            Assert.That(await table.LookupAsync("user@x"), Is.EqualTo(LookupResult.Found("lower")));
            Assert.That(await table.LookupAsync("User@X"), Is.EqualTo(LookupResult.Found("upper")));
        }
        Assert.That(exact.LookedUp, Is.EqualTo(new[] { "User@X", "user@x" }));
    }

    [Test]
    public async Task SizeBound_HoldsAndRecentKeysStillHit()
    {
        var inner = new TableDouble();
        await using var table = Over(inner, new L1Options(TimeSpan.FromSeconds(5), 10, TimeSpan.FromSeconds(5)));
        for (int i = 0; i < 1000; i++)
        {
            await table.LookupAsync($"n{i}@x");
            Assert.That(table.Cache.Count, Is.LessThanOrEqualTo(10));
        }
        Assert.That(table.Cache.Count, Is.GreaterThanOrEqualTo(5), "the newest half at least is kept");
        int before = inner.LookedUp.Count;
        for (int i = 995; i < 1000; i++) await table.LookupAsync($"n{i}@x");
        Assert.That(inner.LookedUp, Has.Count.EqualTo(before), "the newest keys are hits");
        await table.LookupAsync("n0@x");
        Assert.That(inner.LookedUp, Has.Count.EqualTo(before + 1), "the oldest key was evicted");
    }

    [Test]
    public void SizeBound_HoldsUnderConcurrentStores()
    {
        var cache = new L1Cache(100);
        int maxSeen = 0;
        Parallel.For(0, 8, t =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                cache.Store($"{t}:{i % 500}", LookupResult.Found("v"), 60_000);
                if (i % 64 == 0) InterlockedMax(ref maxSeen, cache.Count);
                if (i % 97 == 0) cache.Remove($"{t}:{i % 500}");
            }
        });
        Assert.That(cache.Count, Is.LessThanOrEqualTo(100));
        Assert.That(maxSeen, Is.LessThanOrEqualTo(100));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    [Test]
    public async Task Update_InvalidatesTheEntry()
    {
        await using var table = OverMemcached(FiveSeconds);
        string key = NewKey();
        mc.Set(key, "v1");
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
        Assert.That(await table.UpdateAsync(key.ToUpperInvariant(), "v2"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v2")));
        Assert.That(mc.Get(key), Is.EqualTo(("v2", 0)));
    }

    [Test]
    public async Task Delete_InvalidatesTheEntry()
    {
        await using var table = OverMemcached(FiveSeconds);
        string key = NewKey();
        mc.Set(key, "v1");
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.Found("v1")));
        Assert.That(await table.DeleteAsync(key), Is.EqualTo(UpdateResult.Success));
        Assert.That(await table.LookupAsync(key), Is.EqualTo(LookupResult.NotFound));
    }

    [Test]
    public async Task FailedUpdate_StillInvalidates()
    {
        var inner = new TableDouble().With("k@x", "v1");
        inner.UpdateResult = UpdateResult.TempError;
        await using var table = Over(inner, FiveSeconds);
        Assert.That(await table.LookupAsync("k@x"), Is.EqualTo(LookupResult.Found("v1")));
        Assert.That(await table.UpdateAsync("k@x", "v2"), Is.EqualTo(UpdateResult.TempError));
        await table.LookupAsync("k@x");
        Assert.That(inner.LookedUp, Has.Count.EqualTo(2), "looked up again after the failed update");
    }

    /// <summary>
    /// The callers that joined a flight resume on the thread that completed the inner
    /// lookup (a memcached reader in the server), not on the thread pool.
    /// </summary>
    [Test]
    public async Task Coalescing_WaitersResumeOnTheThreadThatCompletedTheLookup()
    {
        var inner = new TableDouble().With("k@x", "v");
        inner.Gate = new TaskCompletionSource();          // completes its waiters inline, like a socket reader
        await using var table = Over(inner, FiveSeconds);
        // started off the test's synchronization context, as in the server (no context to post to)
        Task<LookupResult> first = null!, second = null!;
        await Task.Run(() =>
        {
            first = table.LookupAsync("k@x").AsTask();
            second = table.LookupAsync("k@x").AsTask();
        });
        await inner.Entered.Task;
        var resumedOn = new System.Collections.Concurrent.ConcurrentBag<int>();
        var continuations = new[] { first, second }.Select(t => t.ContinueWith(
            _ => resumedOn.Add(Environment.CurrentManagedThreadId), TaskContinuationOptions.ExecuteSynchronously)).ToArray();
        int completer = -1;
        var thread = new Thread(() => { completer = Environment.CurrentManagedThreadId; inner.Gate.SetResult(); });
        thread.Start();
        thread.Join();
        await Task.WhenAll(continuations);
        Assert.That(await first, Is.EqualTo(LookupResult.Found("v")));
        Assert.That(await second, Is.EqualTo(LookupResult.Found("v")));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(1), "one inner lookup for both");
        Assert.That(resumedOn, Has.Count.EqualTo(2).And.All.EqualTo(completer));
    }

    [Test]
    public async Task UpdateDuringAFlight_ItsResultIsNotCached()
    {
        var inner = Gated(new TableDouble().With("k@x", "old"));
        await using var table = Over(inner, FiveSeconds);
        var inFlight = table.LookupAsync("k@x").AsTask();
        await inner.Entered.Task;
        inner.With("k@x", "new");
        Assert.That(await table.UpdateAsync("k@x", "new"), Is.EqualTo(UpdateResult.Success));
        inner.Gate!.SetResult();
        await inFlight;
        inner.Gate = null;
        Assert.That(await table.LookupAsync("k@x"), Is.EqualTo(LookupResult.Found("new")));
        Assert.That(inner.LookedUp, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Sequence_PassesThrough()
    {
        var backup = new Memcache.FixedKeyTable("texthash:b", ("a@x", "1"));
        await using var table = new CachedTable(backup, FiveSeconds, foldKeys: true);
        var seq = await table.SequenceAsync();
        Assert.That(seq.Status, Is.EqualTo(UpdateStatus.Success));
        Assert.That(seq.Entries, Is.EqualTo(new[] { KeyValuePair.Create("a@x", "1") }));
        Assert.That(table.Name, Is.EqualTo("texthash:b"));
    }
}
