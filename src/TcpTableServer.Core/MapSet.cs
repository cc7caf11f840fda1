using Microsoft.Extensions.Logging;
using TcpTableServer.Caching;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer;

/// <summary>
/// The opened maps of a <see cref="ServerDefinition"/>: one memcache_table(5) table per
/// [maps:NAME] section, by name (ordinal: map names are case-sensitive on the wire, spec 2.6),
/// behind its <see cref="CachedTable"/> L1 cache when the section turns one on and,
/// with smtputf8_enable = yes (the default), behind the <see cref="Utf8Table"/> layer.
/// Used by the server and by the command-line verbs alike, so both run the same map code.
/// </summary>
public sealed class MapSet : IAsyncDisposable
{
    private readonly Dictionary<string, ITable> _tables;
    private readonly Dictionary<string, MemcacheSettings> _settings;

    public ServerDefinition Definition { get; }
    public IReadOnlyDictionary<string, ITable> Tables => _tables;

    /// <summary>Each map's memcache_table(5) settings as parsed from its .cf file, by map name.</summary>
    public IReadOnlyDictionary<string, MemcacheSettings> Settings => _settings;

    private MapSet(ServerDefinition definition, Dictionary<string, ITable> tables, Dictionary<string, MemcacheSettings> settings)
    {
        Definition = definition;
        _tables = tables;
        _settings = settings;
    }

    /// <summary>
    /// Opens every map (or only <paramref name="only"/>). Throws <see cref="ConfigException"/>
    /// naming file and line when a map cannot be opened (spec 3.11: refuse to start).
    /// Backup and domain tables come from <paramref name="registry"/>, one instance per table
    /// (a host that reloads passes its own, so old and new map sets share instances); without
    /// one, the map set has its own.
    /// </summary>
    public static MapSet Open(ServerDefinition definition, ILoggerFactory loggers, string? only = null,
        TableRegistry? registry = null)
    {
        var factory = new TableFactory(loggers, registry);
        var tables = new Dictionary<string, ITable>(StringComparer.Ordinal);
        var settings = new Dictionary<string, MemcacheSettings>(StringComparer.Ordinal);
        try
        {
            foreach (var map in definition.Maps)
            {
                if (only is not null && map.Name != only) continue;
                var table = MemcacheTable.Open(map.Name, map.Parameters, factory, map.BaseDirectory, loggers);
                ITable served = map.L1 is { } l1 ? new CachedTable(table, l1, table.Settings.FoldKeys) : table;
                // UTF-8 mode (spec 3.3): Postfix's UTF-8 layer in front of everything, so the L1
                // cache, too, sees only valid, folded keys.
                if (table.Settings.Smtputf8Enable)
                    served = new Utf8Table(served, table.Settings.FoldKeys, loggers.CreateLogger<Utf8Table>());
                if (map.Deadline is { } deadline)
                    served = new DeadlineTable(served, deadline, loggers.CreateLogger<DeadlineTable>());
                tables[map.Name] = served;
                settings[map.Name] = table.Settings;
            }
        }
        catch
        {
            foreach (var t in tables.Values) t.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        if (only is not null && tables.Count == 0)
            throw new ConfigException($"no map named \"{only}\" (map names are case-sensitive)", definition.IniPath);
        return new MapSet(definition, tables, settings);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var t in _tables.Values) await t.DisposeAsync().ConfigureAwait(false);
    }
}
