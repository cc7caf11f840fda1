using System.Diagnostics.Metrics;
using TcpTableServer.Caching;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer.Metrics;

/// <summary>
/// The per-map counters the tables keep themselves, on paths that are slow anyway (a memcached
/// or backup error, an L1 miss, an L1 generation swap), read when the metrics are scraped:
/// the layers of each served map of the current set are unwrapped to its
/// <see cref="MemcacheTable"/> and <see cref="CachedTable"/>.
/// </summary>
internal static class MapCounters
{
    public enum Kind { MemcachedErrors, BackupErrors, L1Misses, L1Evictions }

    /// <summary>One measurement per map of the current set that has the counter (maps without an L1 have no L1 counters).</summary>
    public static IEnumerable<Measurement<long>> Read(LiveMaps maps, Kind kind)
    {
        // Not leased: reading a counter of a table that a reload is closing is harmless.
        foreach (var (name, table) in maps.Current.Tables)
        {
            long? value = kind switch
            {
                Kind.MemcachedErrors => Find<MemcacheTable>(table)?.MemcachedErrors,
                Kind.BackupErrors => Find<MemcacheTable>(table) is { Settings.Backup: not null } m ? m.BackupErrors : null,
                Kind.L1Misses => Find<CachedTable>(table)?.Misses,
                _ => Find<CachedTable>(table)?.Cache.Evictions,
            };
            if (value is { } v) yield return new Measurement<long>(v, new KeyValuePair<string, object?>("map", name));
        }
    }

    /// <summary>The map name of a served table: its name without the "memcache:" prefix.</summary>
    public static string MapName(ITable table)
    {
        string name = table.Name;
        return name.StartsWith("memcache:", StringComparison.Ordinal) ? name["memcache:".Length..] : name;
    }

    /// <summary>The layer of type <typeparamref name="T"/> inside a served map (deadline, UTF-8, L1, memcache).</summary>
    public static T? Find<T>(ITable table) where T : class, ITable
    {
        for (ITable? t = table; t is not null;)
        {
            if (t is T found) return found;
            t = t switch
            {
                DeadlineTable d => d.Inner,
                Utf8Table u => u.Inner,
                CachedTable c => c.Inner,
                _ => null,
            };
        }
        return null;
    }
}
