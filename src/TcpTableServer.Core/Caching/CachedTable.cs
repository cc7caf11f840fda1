using System.Collections.Concurrent;
using TcpTableServer.Config;
using TcpTableServer.Explain;
using TcpTableServer.Tables;

namespace TcpTableServer.Caching;

/// <summary>
/// The opt-in L1 cache of a map: an in-process decorator around the map's
/// memcache_table(5) table, not part of memcache semantics (spec section 3 is the inner
/// table's job). Found answers are kept for <see cref="L1Options.Ttl"/>, not-found answers
/// for <see cref="L1Options.NegativeTtl"/> (0: not kept), errors never; at most
/// <see cref="L1Options.Size"/> entries (<see cref="L1Cache"/>).
///
/// Concurrent lookups of a key that is not cached share one inner lookup (and its result,
/// errors included). Keys are cached after the map's case folding (spec 3.3, 3.2 step 3),
/// which the inner table would do anyway, so answers stay identical.
///
/// Staleness traded for speed: an answer may be up to <see cref="L1Options.Ttl"/> old;
/// changes made in memcached or the backup by anyone else are not seen until expiry. An
/// update or delete through this table drops the key's entry (and any lookup in flight
/// for it is not cached).
/// </summary>
public sealed class CachedTable : ITable
{
    /// <summary>
    /// One inner lookup shared by every caller that asked while it ran. Its waiters resume on
    /// the thread that completes it (the memcached reader, as for any lookup), not through the
    /// thread pool: every entry expires at its TTL, and a wave of refills should not cost a
    /// thread switch each. The flight's state is settled before it completes.
    /// </summary>
    private sealed class Flight
    {
        public readonly TaskCompletionSource<LookupResult> Done = new();
        public volatile bool Invalidated;
    }

    private readonly ITable _inner;
    private readonly L1Cache _cache;
    private readonly bool _foldKeys;
    private readonly long _ttl;
    private readonly long _negativeTtl;
    private readonly ConcurrentDictionary<string, Flight> _inFlight = new(StringComparer.Ordinal);
    private long _misses;

    /// <param name="inner">The map's table (its <c>Name</c> is kept for logs).</param>
    /// <param name="options">TTLs and size.</param>
    /// <param name="foldKeys">True when the inner table folds keys (fold_keys, spec 3.3): User@X and user@x then share an entry.</param>
    /// <param name="clock">Milliseconds of a monotonic clock, for tests.</param>
    public CachedTable(ITable inner, L1Options options, bool foldKeys, Func<long>? clock = null)
    {
        _inner = inner;
        _cache = new L1Cache(options.Size, clock);
        _foldKeys = foldKeys;
        _ttl = (long)options.Ttl.TotalMilliseconds;
        _negativeTtl = (long)options.NegativeTtl.TotalMilliseconds;
    }

    public string Name => _inner.Name;

    /// <summary>The table behind the L1 cache.</summary>
    public ITable Inner => _inner;

    /// <summary>The store, for tests and diagnostics.</summary>
    public L1Cache Cache => _cache;

    /// <summary>Lookups not answered from the cache (metrics; counted on the miss path only, which allocates a flight anyway).</summary>
    public long Misses => Volatile.Read(ref _misses);

    private string CacheKey(string key) => _foldKeys ? Octets.FoldAscii(key) : key;

    /// <summary>A hit completes synchronously without allocating; a miss joins or starts the key's flight.</summary>
    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        key = CacheKey(key);
        if (_cache.TryGet(key, out var hit))
        {
            LookupTrace.Current?.L1(Name, key, L1Outcome.Hit, hit);   // query --explain
            return new ValueTask<LookupResult>(hit.From(AnswerTier.L1));
        }

        Interlocked.Increment(ref _misses);
        var mine = new Flight();
        var flight = _inFlight.GetOrAdd(key, mine);
        LookupTrace.Current?.L1(Name, key, flight == mine ? L1Outcome.MissStarted : L1Outcome.MissJoined);
        if (flight == mine) _ = RunAsync(key, flight);
        var task = flight.Done.Task;
        return new ValueTask<LookupResult>(ct.CanBeCanceled ? task.WaitAsync(ct) : task);
    }

    /// <summary>Runs the shared inner lookup (not cancellable by one caller: the table's own timeouts bound it).</summary>
    private async Task RunAsync(string key, Flight flight)
    {
        LookupResult result;
        try
        {
            result = await _inner.LookupAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _inFlight.TryRemove(new KeyValuePair<string, Flight>(key, flight));
            flight.Done.SetException(e);
            return;
        }
        long ttl = result.Status switch
        {
            LookupStatus.Found => _ttl,
            LookupStatus.NotFound => _negativeTtl,
            _ => 0,
        };
        object? token = ttl > 0 ? _cache.Store(key, result, ttl) : null;
        _inFlight.TryRemove(new KeyValuePair<string, Flight>(key, flight));
        // An update/delete that ran meanwhile either found this flight (flag set: undo the
        // store here) or came after the removal above (it removes the entry itself).
        if (token is not null && flight.Invalidated) _cache.RemoveIfStored(key, token);
        flight.Done.SetResult(result);
    }

    private void Invalidate(string key)
    {
        if (_inFlight.TryRemove(key, out var flight)) flight.Invalidated = true;
        Interlocked.MemoryBarrier();
        _cache.Remove(key);
    }

    /// <summary>Inner update, then the key's entry is dropped (whatever the outcome).</summary>
    public async ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        try
        {
            return await _inner.UpdateAsync(key, value, ct).ConfigureAwait(false);
        }
        finally
        {
            Invalidate(CacheKey(key));
        }
    }

    /// <summary>Inner delete, then the key's entry is dropped (whatever the outcome).</summary>
    public async ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
    {
        try
        {
            return await _inner.DeleteAsync(key, ct).ConfigureAwait(false);
        }
        finally
        {
            Invalidate(CacheKey(key));
        }
    }

    /// <summary>Not cached: passes through.</summary>
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => _inner.SequenceAsync(ct);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
