namespace TcpTableServer;

/// <summary>
/// The map set the listeners serve, swappable (StackExchange.Redis's copy-on-write server
/// array, exemplars.md): a request batch takes the current set once (<see cref="Acquire"/>)
/// and answers every request of the batch from it; <see cref="Swap"/> publishes a new set
/// atomically. The old set's owner reference is dropped by whoever swapped it out, and its
/// tables go once the batches holding it have finished (<see cref="MapSet.Released"/>).
/// Connections and listeners never hold tables: the next batch on an open connection sees
/// the new set.
/// </summary>
public sealed class LiveMaps(MapSet initial)
{
    private MapSet _current = initial;

    /// <summary>The set published now (not leased: for reading its definition, not for answering).</summary>
    public MapSet Current => Volatile.Read(ref _current);

    /// <summary>Fixed tables that someone else owns (tests, embedding).</summary>
    public static LiveMaps Of(IReadOnlyDictionary<string, Tables.ITable> tables) => new(MapSet.Of(tables));

    /// <summary>A lease on the current set; give it back with <see cref="MapSet.Release"/>.</summary>
    public MapSet Acquire()
    {
        while (true)
        {
            var set = Volatile.Read(ref _current);
            if (set.TryLease()) return set;
            // Released between the read and the lease: a newer set has been published, unless
            // the server is closing its last set (its listeners are stopped before that).
            if (ReferenceEquals(set, Volatile.Read(ref _current)))
                throw new ObjectDisposedException(nameof(LiveMaps), "the maps have been closed");
        }
    }

    /// <summary>Publishes <paramref name="next"/>; returns the previous set (the caller disposes it).</summary>
    public MapSet Swap(MapSet next) => Interlocked.Exchange(ref _current, next);
}
