using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Config;
using TcpTableServer.Explain;
using TcpTableServer.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// A memcache_table(5) table: memcached as cache plus an optional backup table with
/// fall-through and write-back (spec section 3). The backup receives the key case-folded
/// as in 3.2 step 3 (3.3 POLICY). Skipped keys never reach memcached nor the backup.
/// </summary>
public sealed class MemcacheTable : ITable
{
    private readonly MemcacheSettings _settings;
    private readonly KeyPreparer _keys;
    private readonly IMemcacheStore _client;   // one memcached, or several nodes on a ketama ring
    private readonly string _dictName;
    private readonly ILogger _logger;
    private readonly MemcacheLog _log;
    private readonly LogThrottle _detachedWriteBacks;
    private int _detached;
    private long _memcachedErrors, _backupErrors;

    /// <summary>Write-backs in flight without a waiting reply, at most (beyond: skipped).</summary>
    private const int MaxDetachedWriteBacks = 16;

    /// <summary>"memcache:name" (the name given to <see cref="Open"/>, prefixed unless it already has it).</summary>
    public string Name { get; }

    /// <summary>The parsed parameters.</summary>
    public MemcacheSettings Settings => _settings;

    /// <summary>Lookups whose memcached get failed, and whose backup lookup failed (metrics; counted on the error paths only).</summary>
    public long MemcachedErrors => Volatile.Read(ref _memcachedErrors);

    /// <inheritdoc cref="MemcachedErrors"/>
    public long BackupErrors => Volatile.Read(ref _backupErrors);

    private MemcacheTable(string name, MemcacheSettings settings, ILogger logger)
    {
        Name = name;
        _dictName = name[9..];
        _settings = settings;
        _keys = new KeyPreparer(settings);
        _log = new MemcacheLog(logger, name, TimeSpan.FromSeconds(settings.WarningInterval));
        _client = IMemcacheStore.Open(settings, name, _log);
        _logger = logger;
        _detachedWriteBacks = new LogThrottle(logger, LogLevel.Information,
            $"{_dictName}: write-backs sent without waiting or skipped while memcached fails", TimeSpan.FromSeconds(Math.Max(1, settings.WarningInterval)));
    }

    /// <summary>
    /// Parses the parameters (spec 3.1), opens the backup and domain tables through
    /// <paramref name="tables"/>. Throws <see cref="ConfigException"/> with file and line.
    /// </summary>
    public static MemcacheTable Open(string name, IReadOnlyDictionary<string, ConfigValue> parameters,
        ITableFactory tables, string baseDirectory, ILoggerFactory loggers)
    {
        string fullName = name.StartsWith("memcache:", StringComparison.Ordinal) ? name : "memcache:" + name;
        var logger = loggers.CreateLogger<MemcacheTable>();
        var settings = MemcacheSettings.Parse(parameters, tables, baseDirectory, fullName[9..], logger);
        return new MemcacheTable(fullName, settings, logger);
    }

    /// <summary>Lookup with the outcome matrix of spec 3.4.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    public async ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        var k = await _keys.PrepareAsync(key, ct).ConfigureAwait(false);
        if (k.IsError) return LookupResult.Error(k.Error).From(AnswerTier.Error);
        if (k.IsSkip) return LookupResult.NotFound.From(AnswerTier.Skipped);

        long asked = Environment.TickCount64;
        var cached = await _client.GetAsync(k.MemcacheKey, ct).ConfigureAwait(false);
        if (cached.IsError) Interlocked.Increment(ref _memcachedErrors);
        if (_settings.Backup is not { } backup || cached.Status == LookupStatus.Found) return cached.From(AnswerTier.Memcached);

        var stored = (await backup.LookupAsync(k.BackupKey, ct).ConfigureAwait(false)).From(AnswerTier.Backup);   // memcached error forgotten
        if (stored.IsError) Interlocked.Increment(ref _backupErrors);
        var trace = LookupTrace.Current;   // query --explain
        trace?.Backup(backup.Name, k.BackupKey, stored);
        if (stored.Status != LookupStatus.Found)
            trace?.WriteBack(stored.IsError ? WriteBackMode.SkippedError : WriteBackMode.SkippedNotFound, null);
        else
        {
            // A get that failed only after a whole timeout (memcached frozen or crawling) would
            // make the write-back wait as long again; a fast failure (refused, garbage) is
            // awaited as Postfix does, it costs the reply nothing.
            bool stalled = cached.Status == LookupStatus.TempError && _settings.Timeout > 0
                           && Environment.TickCount64 - asked >= _settings.Timeout * 1000L;
            if (!stalled)
            {
                var written = await _client.SetAsync(k.MemcacheKey, CString(stored.Value!), ct).ConfigureAwait(false);
                trace?.WriteBack(WriteBackMode.Sent, written);
            }
            else
            {
                trace?.WriteBack(WriteBackMode.Detached, null);
                WriteBackDetached(k.MemcacheKey, CString(stored.Value!));
            }
        }
        return stored;
    }

    /// <summary>
    /// The write-back after a backup hit when this very lookup found memcached stalled: sent
    /// without holding the reply (the cache content is the same as after an awaited write
    /// that could not land, spec 3.4), so a frozen memcached cannot add its timeouts a second
    /// time to the answer. At most <see cref="MaxDetachedWriteBacks"/> are in flight; beyond,
    /// the write-back is skipped. Logged once, then summarised per window.
    /// </summary>
    private void WriteBackDetached(string key, string value)
    {
        if (_detachedWriteBacks.Admit())
            _logger.LogInformation("{Table}: memcached is stalled: write-backs after backup hits go out without holding the reply (at most {Max} at once, the rest skipped)",
                _dictName, MaxDetachedWriteBacks);
        if (Interlocked.Increment(ref _detached) > MaxDetachedWriteBacks)
        {
            Interlocked.Decrement(ref _detached);
            return;
        }
        _ = SendAsync(this, key, value);

        static async Task SendAsync(MemcacheTable self, string key, string value)
        {
            // failures are results; a client disposed meanwhile answers them without connecting
            try { await self._client.SetAsync(key, value, CancellationToken.None).ConfigureAwait(false); }
            finally { Interlocked.Decrement(ref self._detached); }
        }
    }

    /// <summary>Update (spec 3.5): memcached first, then the backup whose result replaces it.</summary>
    public async ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        var k = await _keys.PrepareAsync(key, ct).ConfigureAwait(false);
        if (k.IsError) return UpdateResult.Error(k.Error);
        if (k.IsSkip)
        {
            // Postfix names the key here; the key goes to the debug line
            if (_log.Admit(MemcacheWarning.SkipUpdate))
                _logger.LogWarning("{Table}: skipping update: {Reason}", _dictName, PreparedKey.Describe(k.Skip));
            _log.DebugKey($"{_dictName}: skipping update", key);
            return UpdateResult.Fail;
        }
        value = CString(value);
        var result = await _client.SetAsync(k.MemcacheKey, value, ct).ConfigureAwait(false);
        if (_settings.Backup is { } backup)
            result = await backup.UpdateAsync(k.BackupKey, value, ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Delete (spec 3.6): memcached first, then the backup whose result replaces it.</summary>
    public async ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
    {
        var k = await _keys.PrepareAsync(key, ct).ConfigureAwait(false);
        if (k.IsError) return UpdateResult.Error(k.Error);
        if (k.IsSkip) return UpdateResult.Fail;
        var result = await _client.DeleteAsync(k.MemcacheKey, ct).ConfigureAwait(false);
        if (_settings.Backup is { } backup)
            result = await backup.DeleteAsync(k.BackupKey, ct).ConfigureAwait(false);
        return result;
    }

    /// <summary>Sequence (spec 3.7): delegated to the backup; without one a warning and Fail.</summary>
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
    {
        if (_settings.Backup is { } backup) return backup.SequenceAsync(ct);
        _logger.LogWarning("{Table}: first/next support requires backup database", _dictName);
        return ValueTask.FromResult(SequenceResult.Fail);
    }

    /// <summary>Values are C strings in Postfix: cut at the first NUL.</summary>
    private static string CString(string value)
    {
        int nul = value.IndexOf('\0');
        return nul < 0 ? value : value[..nul];
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync().ConfigureAwait(false);
        _log.Dispose();
        _detachedWriteBacks.Dispose();
        if (_settings.Domain is { } domain) await domain.DisposeAsync().ConfigureAwait(false);
        if (_settings.Backup is { } backup) await backup.DisposeAsync().ConfigureAwait(false);
    }
}
