namespace TcpTableServer.Tables;

/// <summary>
/// One open instance per table per process, as Postfix's <c>dict_register</c> keeps one DICT
/// per "type:name": every open of the same table (two maps with one lmdb backup, a backup
/// also named in a <c>domain</c> list) shares one instance, reference-counted. Each
/// <see cref="Acquire"/> returns its own handle; disposing a handle releases one reference,
/// and the last release closes the instance.
/// <para>
/// Two lmdb environments on one file in one process corrupt it (LMDB with MDB_NOLOCK relies
/// on one writer per process, and fcntl locks do not exclude threads of one process), so
/// sharing is a safety requirement, not an optimization. The registry is an object the host
/// owns: two map sets alive at once (a reload) share instances through the same registry.
/// </para>
/// </summary>
public sealed class TableRegistry
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    private sealed class Entry(ITable table)
    {
        public readonly ITable Table = table;
        public int References;
    }

    /// <summary>The number of open instances (for tests and diagnostics).</summary>
    public int Count { get { lock (_lock) return _entries.Count; } }

    /// <summary>
    /// A handle on the instance registered under <paramref name="key"/>, opened with
    /// <paramref name="open"/> when there is none. <paramref name="open"/> runs under the
    /// registry's lock (opens happen at start-up or reload, not per request), so two callers
    /// never open one table twice; its exceptions propagate and register nothing.
    /// </summary>
    public ITable Acquire(string key, Func<ITable> open)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                entry = new Entry(open());
                _entries.Add(key, entry);
            }
            entry.References++;
            return new SharedTable(this, key, entry.Table);
        }
    }

    private ValueTask Release(string key)
    {
        ITable? last = null;
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry) && --entry.References == 0)
            {
                _entries.Remove(key);
                last = entry.Table;
            }
        }
        return last?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    /// <summary>
    /// One reference to a shared instance: forwards every operation; disposing it releases
    /// the reference once (a second dispose does nothing).
    /// </summary>
    public sealed class SharedTable : ITable
    {
        private readonly TableRegistry _registry;
        private readonly string _key;
        private int _released;

        internal SharedTable(TableRegistry registry, string key, ITable inner)
        {
            _registry = registry;
            _key = key;
            Inner = inner;
        }

        /// <summary>The shared instance.</summary>
        public ITable Inner { get; }

        public string Name => Inner.Name;

        public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
            return Inner.LookupAsync(key, ct);
        }

        public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
            return Inner.UpdateAsync(key, value, ct);
        }

        public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
            return Inner.DeleteAsync(key, ct);
        }

        public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _released) != 0, this);
            return Inner.SequenceAsync(ct);
        }

        public ValueTask DisposeAsync() =>
            Interlocked.Exchange(ref _released, 1) == 0 ? _registry.Release(_key) : ValueTask.CompletedTask;
    }
}
