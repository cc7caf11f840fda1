using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>An entry ready to write: the keys a <c>put</c> of the same line would use.</summary>
/// <param name="Warm">false when memcached would refuse the set (key over 250 bytes, value over
/// data_size_limit): the backup gets the entry, memcached does not, as with an update.</param>
public readonly record struct LoadEntry(int LineNumber, string MemcacheKey, string BackupKey, string Value, bool Warm);

/// <summary>What <see cref="BulkLoader.PrepareAsync"/> made of one source line.</summary>
public readonly record struct LoadPreparation(LoadEntry Entry, string? Problem, ErrorClass Error)
{
    public bool IsBad => Problem is not null;
    public bool IsError => Error != ErrorClass.None;
}

/// <summary>What one batch did: the backup's result and how many entries went to memcached.</summary>
public readonly record struct LoadBatchResult(UpdateResult Backup, int Warmed, int NotWarmed, UpdateResult Memcached);

/// <summary>
/// Bulk load of one map (the <c>load</c> verb): each source entry takes the path a
/// memcache_table(5) update of the served map takes (spec 3.5), so a loaded key is found by
/// a lookup:
/// <list type="number">
/// <item>the UTF-8 layer in front of the map (<c>smtputf8_enable = yes</c>, <see cref="Utf8Table"/>):
/// key and value must be valid UTF-8, the key is Unicode-folded when <c>fold_keys = yes</c>;</item>
/// <item><see cref="KeyPreparer"/> of the map's settings (domain list, fold_keys, key_format,
/// key_digest): a skipped key is a bad line (an update would answer "not updated");</item>
/// <item>the backup key straight to the lmdb table (ASCII folding on every operation): the
/// backup's own UTF-8 layer would fold it again, but case folding is idempotent, so the key
/// is already as that layer would pass it.</item>
/// </list>
/// Writes go in batches: the backup batch in one LMDB transaction
/// (<see cref="LmdbTable.UpdateManyAsync"/>), then, with <c>warm</c>, a memcached <c>set</c> per
/// entry with the map's ttl and flags (a new client with the map's settings, on the node of
/// each key's ring with <c>memcache_nodes</c>, as the map's lookups ask it). Backup first, so
/// memcached never holds what the backup does not. Every write replaces: a repeated batch
/// gives the same result.
/// </summary>
public sealed class BulkLoader : IAsyncDisposable
{
    /// <summary>memcached sets in flight at once while warming (the client pipelines them).</summary>
    private const int WarmParallelism = 64;

    private readonly MemcacheSettings _settings;
    private readonly KeyPreparer _keys;
    private readonly LmdbTable? _backup;
    private readonly IMemcacheStore? _client;
    private readonly MemcacheLog? _log;

    private BulkLoader(MemcacheSettings settings, LmdbTable? backup, IMemcacheStore? client, MemcacheLog? log)
    {
        _settings = settings;
        _keys = new KeyPreparer(settings);
        _backup = backup;
        _client = client;
        _log = log;
    }

    /// <summary>Whether entries go to memcached too (<c>--warm</c>).</summary>
    public bool Warms => _client is not null;

    /// <summary>"lmdb:/path" of the backup file, or null when only memcached is loaded.</summary>
    public string? Target => _backup is null ? null : "lmdb:" + _backup.FilePath[..^".lmdb".Length];

    /// <summary>
    /// A loader for map <paramref name="map"/> with its <paramref name="settings"/> (the tables in
    /// them stay owned by the map set). Throws <see cref="ConfigException"/> when the backup
    /// cannot be written (read-only types), or when there is no backup and no <paramref name="warm"/>.
    /// </summary>
    public static BulkLoader Create(string map, MemcacheSettings settings, bool warm, ILoggerFactory loggers)
    {
        LmdbTable? lmdb = null;
        if (settings.Backup is { } backup)
        {
            var table = backup;
            while (true)
            {
                if (table is Utf8Table u) table = u.Inner;
                else if (table is TableRegistry.SharedTable s) table = s.Inner;
                else break;
            }
            lmdb = table as LmdbTable ?? throw new ConfigException(
                $"map {map}: backup {backup.Name} is read-only; load writes lmdb: backups only");
        }
        else if (!warm)
            throw new ConfigException($"map {map} has no backup table: nothing to load into (--warm loads memcached alone)");

        IMemcacheStore? client = null;
        MemcacheLog? log = null;
        if (warm)
        {
            string name = "memcache:" + map;
            log = new MemcacheLog(loggers.CreateLogger<BulkLoader>(), name, TimeSpan.FromSeconds(settings.WarningInterval));
            client = IMemcacheStore.Open(settings, name, log);
        }
        return new BulkLoader(settings, lmdb, client, log);
    }

    /// <summary>
    /// The keys for one parsed line, or the reason it cannot be loaded (a bad line), or the
    /// error class of a failed domain-list lookup (the load stops). With smtputf8_enable the
    /// caller passes valid UTF-8 only (<see cref="PostmapSource.Read"/> rejects other lines).
    /// </summary>
    public async ValueTask<LoadPreparation> PrepareAsync(string key, string value, int lineNumber, CancellationToken ct)
    {
        if (_settings.Smtputf8Enable && _settings.FoldKeys)   // the map's UTF-8 layer: Unicode case folding
        {
            if (CaseFolding.Fold(key) is not { } folded) return new(default, null, ErrorClass.Retry);
            key = folded;
        }
        var k = await _keys.PrepareAsync(key, ct).ConfigureAwait(false);
        if (k.IsError) return new(default, null, k.Error);
        if (k.IsSkip) return Bad($"key \"{Octets.ToDisplay(key)}\" is skipped by the map's key preparation: {PreparedKey.Describe(k.Skip)}");
        // already as the backup's UTF-8 layer would pass it: folding a folded key changes nothing
        string backupKey = k.BackupKey;
        if (_backup is not null && !_backup.KeyFits(backupKey))
            return Bad($"key \"{Octets.ToDisplay(key)}\" is too long for the lmdb backup");
        bool warm = k.MemcacheKey.Length <= MemcachedClient.MaxKeyLength && value.Length <= _settings.DataSizeLimit;
        return new(new LoadEntry(lineNumber, k.MemcacheKey, backupKey, value, warm), null, ErrorClass.None);

        static LoadPreparation Bad(string problem) => new(default, problem, ErrorClass.None);
    }

    /// <summary>
    /// Writes one batch: the backup in one transaction, then (warming) memcached. Stops at the
    /// first failure: a failed backup batch is not sent to memcached.
    /// </summary>
    public async ValueTask<LoadBatchResult> WriteAsync(IReadOnlyList<LoadEntry> batch, CancellationToken ct)
    {
        var backup = UpdateResult.Success;
        if (_backup is not null)
        {
            var entries = new KeyValuePair<string, string>[batch.Count];
            for (int i = 0; i < batch.Count; i++) entries[i] = new(batch[i].BackupKey, batch[i].Value);
            backup = await _backup.UpdateManyAsync(entries, ct).ConfigureAwait(false);
            if (backup.Status != UpdateStatus.Success) return new(backup, 0, 0, UpdateResult.Success);
        }
        if (_client is null) return new(backup, 0, 0, UpdateResult.Success);

        int warmed = 0, notWarmed = 0;
        var memcached = UpdateResult.Success;
        var pending = new List<ValueTask<UpdateResult>>(WarmParallelism);
        foreach (var e in batch)
        {
            if (!e.Warm) { notWarmed++; continue; }
            pending.Add(_client.SetAsync(e.MemcacheKey, e.Value, ct));
            if (pending.Count == WarmParallelism) await Drain().ConfigureAwait(false);
        }
        await Drain().ConfigureAwait(false);
        return new(backup, warmed, notWarmed, memcached);

        async ValueTask Drain()
        {
            foreach (var p in pending)
            {
                var r = await p.ConfigureAwait(false);
                if (r.Status == UpdateStatus.Success) warmed++;
                else if (memcached.Status == UpdateStatus.Success) memcached = r;
            }
            pending.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null) await _client.DisposeAsync().ConfigureAwait(false);
        _log?.Dispose();
    }
}
