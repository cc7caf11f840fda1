using TcpTableServer.Async;
using Microsoft.Extensions.Logging;
using TcpTableServer.Caching;
using TcpTableServer.Config;
using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer;

/// <summary>
/// The opened maps of a <see cref="ServerDefinition"/>: one memcache_table(5) table per
/// [maps:NAME] section, by name (ordinal: map names are case-sensitive on the wire, spec 2.6),
/// behind its <see cref="CachedTable"/> L1 cache when the section turns one on and,
/// with smtputf8_enable = yes (the default), behind the <see cref="Utf8Table"/> layer; with
/// partial_keys, behind the <see cref="PartialKeyTable"/> search.
/// Used by the server and by the command-line verbs alike, so both run the same map code.
/// <para>
/// A map set is one immutable snapshot of the configuration (<see cref="LiveMaps"/> publishes
/// it). Requests take a lease (<see cref="TryLease"/>, <see cref="Release"/>); the owner's
/// reference goes with <see cref="DisposeAsync"/>; the tables are released when the last of
/// them has gone, so a request that started on an old snapshot finishes on it. A map whose
/// <see cref="MapFingerprint"/> is unchanged from the previous set is the same open map
/// (shared, reference-counted): its L1 entries and memcached connections survive a reload.
/// </para>
/// </summary>
public sealed class MapSet : IAsyncDisposable
{
    private readonly Dictionary<string, MapHandle> _handles;
    private readonly Dictionary<string, ITable> _tables;
    private readonly Dictionary<string, ITable>.AlternateLookup<ReadOnlySpan<char>> _byName;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _leases = 1;   // the owner's reference, plus one per request holding the set

    public ServerDefinition Definition { get; }

    /// <summary>The served table of each map, by name.</summary>
    public IReadOnlyDictionary<string, ITable> Tables => _tables;

    /// <summary>Each map's memcache_table(5) settings as parsed from its .cf file, by map name.</summary>
    public IReadOnlyDictionary<string, MemcacheSettings> Settings { get; }

    /// <summary>The maps this set took over unchanged from the previous one (the rest were opened).</summary>
    public IReadOnlyList<string> Reused { get; }

    /// <summary>Each map's <see cref="MapFingerprint"/> (what makes it the same map at the next reload).</summary>
    public IEnumerable<string> Fingerprints => _handles.Values.Select(h => h.Fingerprint);

    /// <summary>The longest map name (a longer name on the wire cannot be a map).</summary>
    public int LongestName { get; }

    /// <summary>Completes once every table reference of this set has been released.</summary>
    public Task Released => _released.Task;

    private MapSet(ServerDefinition definition, Dictionary<string, MapHandle> handles, Dictionary<string, ITable> tables,
        IReadOnlyDictionary<string, MemcacheSettings> settings, IReadOnlyList<string> reused)
    {
        Definition = definition;
        _handles = handles;
        _tables = tables;
        _byName = tables.GetAlternateLookup<ReadOnlySpan<char>>();
        Settings = settings;
        Reused = reused;
        LongestName = tables.Count == 0 ? 0 : tables.Keys.Max(k => k.Length);
    }

    /// <summary>
    /// A set of tables someone else owns (tests, embedding): leases work as usual, releasing
    /// the set closes nothing.
    /// </summary>
    public static MapSet Of(IReadOnlyDictionary<string, ITable> tables, ServerDefinition? definition = null) =>
        new(definition ?? new ServerDefinition("", [], [], new ServerOptions(null, null, null, TimeSpan.FromSeconds(5))),
            [], new Dictionary<string, ITable>(tables, StringComparer.Ordinal),
            new Dictionary<string, MemcacheSettings>(), []);

    /// <summary>
    /// Opens every map (or only <paramref name="only"/>). Throws <see cref="ConfigException"/>
    /// naming file and line when a map cannot be opened (spec 3.11: refuse to start); nothing
    /// stays open then. Backup and domain tables come from <paramref name="registry"/>, one
    /// instance per table (a host that reloads passes its own, so old and new map sets share
    /// instances); without one, the map set has its own. Maps of <paramref name="previous"/>
    /// with the same fingerprint are taken over instead of opened.
    /// </summary>
    public static MapSet Open(ServerDefinition definition, ILoggerFactory loggers, string? only = null,
        TableRegistry? registry = null, MapSet? previous = null)
    {
        var factory = new TableFactory(loggers, registry);
        var handles = new Dictionary<string, MapHandle>(StringComparer.Ordinal);
        var reused = new List<string>();
        try
        {
            foreach (var map in definition.Maps)
            {
                if (only is not null && map.Name != only) continue;
                string fingerprint = MapFingerprint.Of(map);
                if (previous is not null && previous._handles.TryGetValue(map.Name, out var old) && old.Fingerprint == fingerprint
                    && old.TryAddRef())
                {
                    handles[map.Name] = old;
                    reused.Add(map.Name);
                    continue;
                }
                handles[map.Name] = OpenMap(map, factory, loggers, fingerprint);
            }
        }
        catch
        {
            foreach (var h in handles.Values) h.ReleaseAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        if (only is not null && handles.Count == 0)
            throw new ConfigException($"no map named \"{only}\" (map names are case-sensitive)", definition.IniPath);
        return new MapSet(definition, handles,
            handles.ToDictionary(h => h.Key, h => h.Value.Table, StringComparer.Ordinal),
            handles.ToDictionary(h => h.Key, h => h.Value.Settings, StringComparer.Ordinal), reused);
    }

    private static MapHandle OpenMap(MapDefinition map, TableFactory factory, ILoggerFactory loggers, string fingerprint)
    {
        var table = MemcacheTable.Open(map.Name, map.Parameters, factory, map.BaseDirectory, loggers);
        ITable served = map.L1 is { } l1 ? new CachedTable(table, l1, table.Settings.FoldKeys) : table;
        // UTF-8 mode (spec 3.3): Postfix's UTF-8 layer in front of everything, so the L1
        // cache, too, sees only valid, folded keys.
        if (table.Settings.Smtputf8Enable)
            served = new Utf8Table(served, table.Settings.FoldKeys, loggers.CreateLogger<Utf8Table>());
        // partial_keys: each probe goes through everything above, once per probe; the
        // deadline below bounds the whole search, as Postfix's client waits for one answer.
        if (map.PartialKeys is { } partial)
            served = new PartialKeyTable(served, partial.Search);
        if (map.Deadline is { } deadline)
            served = new DeadlineTable(served, deadline, loggers.CreateLogger<DeadlineTable>());
        return new MapHandle(served, table.Settings, fingerprint);
    }

    /// <summary>The served table of map <paramref name="name"/> (ordinal).</summary>
    public bool TryGet(ReadOnlySpan<char> name, out ITable table) => _byName.TryGetValue(name, out table!);

    /// <summary>
    /// Takes a lease for a request (false: the set has been released; take the current one again).
    /// </summary>
    public bool TryLease() => RefCount.TryIncrement(ref _leases);

    /// <summary>Gives a lease back; the last one releases the tables (off the caller's path).</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _leases) == 0) _ = ReleaseTablesAsync();
    }

    /// <summary>Drops the owner's reference: the tables go now, or when the last request holding the set ends.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Decrement(ref _leases) == 0) return new ValueTask(ReleaseTablesAsync());
        return ValueTask.CompletedTask;
    }

    private async Task ReleaseTablesAsync()
    {
        try
        {
            foreach (var h in _handles.Values) await h.ReleaseAsync().ConfigureAwait(false);
        }
        finally
        {
            _released.TrySetResult();
        }
    }

    /// <summary>One opened map, shared by the map sets that hold it unchanged.</summary>
    private sealed class MapHandle(ITable table, MemcacheSettings settings, string fingerprint)
    {
        private int _references = 1;

        public ITable Table { get; } = table;
        public MemcacheSettings Settings { get; } = settings;
        public string Fingerprint { get; } = fingerprint;

        public bool TryAddRef() => RefCount.TryIncrement(ref _references);

        public ValueTask ReleaseAsync() =>
            Interlocked.Decrement(ref _references) == 0 ? Table.DisposeAsync() : ValueTask.CompletedTask;
    }
}
