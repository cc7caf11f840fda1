using TcpTableServer.Tables;

namespace TcpTableServer.Caching;

/// <summary>
/// The bounded in-process store behind <see cref="CachedTable"/> (not part
/// of memcache_table(5) semantics, spec section 3 is answered by the inner table).
///
/// Eviction is a <b>generation swap</b>: entries go into the current generation; when it
/// holds <c>size / 2</c> entries it becomes the old generation (the previous old one is
/// dropped whole) and a fresh, empty one becomes current. Reads look in the current
/// generation, then the old one, without promotion (so the order is FIFO by insertion, in
/// two halves). Every operation is O(1) and never takes a lock on the read path; at most
/// <c>size</c> entries are held (a slot is reserved in a generation before its entry is
/// added). Expiry is checked on read against the monotonic <see cref="Environment.TickCount64"/>;
/// expired entries simply wait for their generation to be dropped or their key to be stored again.
/// </summary>
public sealed class L1Cache
{
    /// <summary>A cached answer, immutable; a hit returns <see cref="Result"/> without allocating.</summary>
    private sealed class Entry(LookupResult result, long expiresAt)
    {
        public readonly LookupResult Result = result;
        public readonly long ExpiresAt = expiresAt;
    }

    /// <summary>One generation: its entries and the slots reserved in it.</summary>
    private sealed class Generation
    {
        public readonly System.Collections.Concurrent.ConcurrentDictionary<string, Entry> Map = new(StringComparer.Ordinal);
        public int Reserved;
    }

    private readonly int _generationSize;
    private readonly Func<long>? _clock;
    private readonly Lock _swap = new();
    private volatile Generation _current = new();
    private volatile Generation _old = new();
    private long _evictions;

    /// <param name="size">Most entries held (at least 2).</param>
    /// <param name="clock">Milliseconds of a monotonic clock, for tests; default <see cref="Environment.TickCount64"/>.</param>
    public L1Cache(int size, Func<long>? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 2);
        _generationSize = size / 2;
        _clock = clock;
    }

    /// <summary>Entries held now, expired ones included (never more than the size given).</summary>
    public int Count => _current.Map.Count + _old.Map.Count;

    /// <summary>Milliseconds of the monotonic clock.</summary>
    public long Now => _clock is null ? Environment.TickCount64 : _clock();

    /// <summary>Entries dropped with an old generation to make room (metrics; counted at the swap, never on a read).</summary>
    public long Evictions => Volatile.Read(ref _evictions);

    /// <summary>The unexpired answer stored for <paramref name="key"/>, if any.</summary>
    public bool TryGet(string key, out LookupResult result)
    {
        if ((_current.Map.TryGetValue(key, out var e) || _old.Map.TryGetValue(key, out e)) && Now < e.ExpiresAt)
        {
            result = e.Result;
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>
    /// Stores <paramref name="result"/> for <paramref name="ttlMilliseconds"/>; returns a token
    /// for <see cref="RemoveIfStored"/>.
    /// </summary>
    public object Store(string key, LookupResult result, long ttlMilliseconds)
    {
        var entry = new Entry(result, Now + ttlMilliseconds);
        while (true)
        {
            var gen = _current;
            if (gen.Map.TryGetValue(key, out var previous) && gen.Map.TryUpdate(key, entry, previous)) return entry;
            if (Interlocked.Increment(ref gen.Reserved) <= _generationSize)
            {
                if (!gen.Map.TryAdd(key, entry)) gen.Map[key] = entry;   // a racing store of the same key: its slot is spare
                return entry;
            }
            lock (_swap)
            {
                if (_current == gen)
                {
                    Interlocked.Add(ref _evictions, _old.Map.Count);
                    _old = gen;
                    _current = new Generation();
                }
            }
        }
    }

    /// <summary>Removes the entry that <see cref="Store"/> returned <paramref name="token"/> for, if it is still there.</summary>
    public void RemoveIfStored(string key, object token)
    {
        if (token is not Entry entry) return;
        var pair = new KeyValuePair<string, Entry>(key, entry);
        _current.Map.TryRemove(pair);
        _old.Map.TryRemove(pair);
    }

    /// <summary>Forgets <paramref name="key"/> in every generation.</summary>
    public void Remove(string key)
    {
        // Current first: a swap in between moves that very generation to _old, read next.
        _current.Map.TryRemove(key, out _);
        _old.Map.TryRemove(key, out _);
    }
}
