using LightningDB;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables.Lmdb;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>lmdb:/path</c> (Postfix dict_lmdb): the single file <c>/path.lmdb</c>, in exactly the
/// format <c>postmap lmdb:/path</c> writes and reads.
/// <list type="bullet">
/// <item>Opened like Postfix's slmdb: MDB_NOSUBDIR | MDB_NOLOCK, map size at least
/// <c>lmdb_map_size</c> (10 MiB) and the file size; MDB_MAP_FULL grows the map (doubling)
/// and retries, MDB_MAP_RESIZED (another process grew the file) likewise.</item>
/// <item>Fixed-key table: keys are ASCII-lowercased on every operation (spec 3.3). Keys and
/// values are C strings: written with one trailing NUL; lookups and deletes try "key\0"
/// first, then "key" (DICT_FLAG_TRY1NULL / TRY0NULL, and like Postfix the first hit decides
/// the style for later operations); values end at the first NUL.</item>
/// <item>Writable: update replaces an existing entry (a backup write-back, spec 3.5);
/// delete answers Success or Fail (spec 3.6); sequence returns all entries (spec 3.7).</item>
/// <item>MDB_NOLOCK means no in-process reader/writer coordination by LMDB, so every
/// operation runs under one lock. Operations are synchronous and take microseconds, so a
/// caller that finds the lock taken waits on its own thread: an asynchronous gate would move
/// its continuation to the thread pool, a thread switch per contended lookup (issue 5).
/// Cross-process fcntl locking as Postfix's DICT_FLAG_LOCK does is not implemented.</item>
/// <item>Run-time errors: warning and <see cref="LookupStatus.TempError"/> (Postfix would
/// exit with a fatal error; a server keeps running).</item>
/// <item>A missing file is created empty when its directory exists: a backup is a persistent
/// database that the server's own writes fill, so an operator starting with an empty backup
/// should not have to run postmap first. A missing directory or a file LMDB cannot open is a
/// <see cref="ConfigException"/> naming the path.</item>
/// </list>
/// </summary>
public sealed class LmdbTable : ITable
{
    /// <summary>Postfix's lmdb_map_size default.</summary>
    public const long DefaultMapSize = 10 * 1024 * 1024;

    private const int MaxGrowAttempts = 24;

    private readonly LightningEnvironment _env;
    private readonly LightningDatabase _db;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private bool _tryWithNul = true, _tryWithoutNul = true;
    private bool _disposed;

    private LmdbTable(string name, string file, LightningEnvironment env, LightningDatabase db, ILogger logger)
    {
        Name = name;
        FilePath = file;
        _env = env;
        _db = db;
        _logger = logger;
    }

    public string Name { get; }

    /// <summary>The database file, name + ".lmdb".</summary>
    public string FilePath { get; }

    /// <summary>The current map size (grows on demand).</summary>
    public long MapSize => _env.MapSize;

    /// <param name="name">The name as written after "lmdb:".</param>
    /// <param name="path">The resolved path without the ".lmdb" suffix.</param>
    public static LmdbTable Open(string name, string path, ILogger logger)
    {
        string file = Path.GetFullPath(path + ".lmdb");
        string? directory = Path.GetDirectoryName(file);
        if (directory is null || !Directory.Exists(directory))
            throw new ConfigException($"open database {file}: directory {directory} does not exist");
        if (Directory.Exists(file))
            throw new ConfigException($"open database {file}: is a directory");

        LmdbNativeLibrary.EnsureRegistered();
        long fileSize = File.Exists(file) ? new FileInfo(file).Length : 0;
        var env = new LightningEnvironment(file, new EnvironmentConfiguration
        {
            MapSize = RoundUp(Math.Max(DefaultMapSize, fileSize)),
        });
        // LightningDB's finalizer throws for an undisposed environment, which would crash the
        // process on the finalizer thread; an undisposed table merely keeps its mapping.
        GC.SuppressFinalize(env);
        try
        {
            env.Open(EnvironmentOpenFlags.NoSubDir | EnvironmentOpenFlags.NoLock);
            using var tx = env.BeginTransaction();
            var db = tx.OpenDatabase(configuration: new DatabaseConfiguration { Flags = DatabaseOpenFlags.None });
            Check(tx.Commit(), "open");
            return new LmdbTable("lmdb:" + name, file, env, db, logger);
        }
        catch (Exception e) when (e is LightningException or LmdbError or IOException or UnauthorizedAccessException)
        {
            env.Dispose();
            throw new ConfigException($"open database {file}: {Describe(e)}", inner: e);
        }
    }

    // The operations pass their arguments as state to static lambdas: a lookup (the miss path
    // of every memcache map with an lmdb backup) allocates no closure.

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) =>
        Locked("lookup", LookupResult.TempError, ct, KeyBytes(key), static (self, k) => self.Find(k));

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) =>
        Locked("update", UpdateResult.TempError, ct, (KeyBytes(key), ValueBytes(value)), static (self, kv) => self.Put(kv.Item1, kv.Item2));

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        Locked("delete", UpdateResult.TempError, ct, KeyBytes(key), static (self, k) => self.Remove(k));

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) =>
        Locked("sequence", SequenceResult.TempError, ct, 0, static (self, _) => self.ReadAll());

    private LookupResult Find(byte[] k)
    {
        using var tx = BeginRead();
        foreach (bool withNul in TryOrder())
        {
            var (rc, _, value) = tx.Get(_db, withNul ? k : k.AsSpan(0, k.Length - 1));
            if (rc == MDBResultCode.NotFound) continue;
            Check(rc, "lookup");
            Decided(withNul);
            return LookupResult.Found(CString(value.AsSpan()));
        }
        return LookupResult.NotFound;
    }

    private UpdateResult Put(byte[] k, byte[] v)
    {
        if (_tryWithNul && _tryWithoutNul) _tryWithoutNul = false;    // Postfix's default style
        int trim = _tryWithNul ? 0 : 1;
        return WriteGrowing("update", tx =>
        {
            Check(tx.Put(_db, k.AsSpan(0, k.Length - trim), v.AsSpan(0, v.Length - trim)), "update");
            return UpdateResult.Success;
        });
    }

    private UpdateResult Remove(byte[] k) => WriteGrowing("delete", tx =>
    {
        foreach (bool withNul in TryOrder())
        {
            var rc = tx.Delete(_db, withNul ? k : k.AsSpan(0, k.Length - 1));
            if (rc == MDBResultCode.NotFound) continue;
            Check(rc, "delete");
            Decided(withNul);
            return UpdateResult.Success;
        }
        return UpdateResult.Fail;
    });

    private SequenceResult ReadAll()
    {
        var entries = new List<KeyValuePair<string, string>>();
        using var tx = BeginRead();
        using var cursor = tx.CreateCursor(_db);
        for (var (rc, k, v) = cursor.First(); rc != MDBResultCode.NotFound; (rc, k, v) = cursor.Next())
        {
            Check(rc, "sequence");
            entries.Add(new(CString(k.AsSpan()), CString(v.AsSpan())));
        }
        return SequenceResult.Of(entries);
    }

    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _db.Dispose();
                _env.Dispose();
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>Runs a write transaction; on MDB_MAP_FULL aborts, doubles the map and retries.</summary>
    private UpdateResult WriteGrowing(string operation, Func<LightningTransaction, UpdateResult> body)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                using var tx = Begin(TransactionBeginFlags.None);
                var result = body(tx);
                if (result.Status == UpdateStatus.Success)
                    Check(tx.Commit(), operation);
                else
                    tx.Abort();
                return result;
            }
            catch (LmdbError e) when (e.Code == MDBResultCode.MapFull && attempt < MaxGrowAttempts)
            {
                Grow(_env.MapSize * 2);
            }
        }
    }

    private LightningTransaction BeginRead() => Begin(TransactionBeginFlags.ReadOnly);

    /// <summary>Begins a transaction; MDB_MAP_RESIZED (the file outgrew our map) grows the map.</summary>
    private LightningTransaction Begin(TransactionBeginFlags flags)
    {
        try
        {
            return _env.BeginTransaction(flags);
        }
        catch (LightningException e) when (e.StatusCode == (int)MDBResultCode.MapResized)
        {
            Grow(Math.Max(_env.MapSize * 2, new FileInfo(FilePath).Length));
            return _env.BeginTransaction(flags);
        }
    }

    private void Grow(long size)
    {
        size = RoundUp(size);
        _logger.LogInformation("{Table}: growing the LMDB map size from {Old} to {New} bytes", Name, _env.MapSize, size);
        _env.MapSize = size;
    }

    /// <summary>
    /// One operation, under the lock and on the caller's thread (see the class remarks): an
    /// LMDB run-time error is a warning and <paramref name="error"/>; the result is complete.
    /// </summary>
    private ValueTask<T> Locked<TState, T>(string operation, T error, CancellationToken ct, TState state,
        Func<LmdbTable, TState, T> body)
    {
        ct.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                return ValueTask.FromResult(body(this, state));
            }
            catch (Exception e) when (e is LightningException or LmdbError or IOException)
            {
                _logger.LogWarning("{Table}: {Operation} failed: {Error}", Name, operation, Describe(e));
                return ValueTask.FromResult(error);
            }
        }
    }

    private static readonly bool[] BothStyles = [true, false], WithNulOnly = [true], WithoutNulOnly = [false];

    /// <summary>The key styles still undecided, with-NUL first (shared arrays: no allocation per operation).</summary>
    private bool[] TryOrder() => (_tryWithNul, _tryWithoutNul) switch
    {
        (true, true) => BothStyles,
        (true, false) => WithNulOnly,
        _ => WithoutNulOnly,
    };

    private void Decided(bool withNul)
    {
        if (withNul) _tryWithoutNul = false;
        else _tryWithNul = false;
    }

    /// <summary>The folded key as a C string plus its NUL.</summary>
    private static byte[] KeyBytes(string key) => ValueBytes(Octets.FoldAscii(key));

    /// <summary>A C string (up to the first NUL, as strlen() sees it) plus its NUL.</summary>
    private static byte[] ValueBytes(string s)
    {
        int nul = s.IndexOf('\0');
        if (nul >= 0) s = s[..nul];
        var bytes = new byte[s.Length + 1];
        Octets.GetBytes(s, bytes);
        return bytes;
    }

    /// <summary>Stored bytes up to the first NUL (the C string Postfix would see).</summary>
    private static string CString(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return Octets.FromBytes(nul >= 0 ? bytes[..nul] : bytes);
    }

    private static long RoundUp(long size) => (size + 0xFFFFF) & ~0xFFFFFL;   // whole MiB

    private static void Check(MDBResultCode rc, string operation)
    {
        if (rc != MDBResultCode.Success) throw new LmdbError(rc, operation);
    }

    private static string Describe(Exception e) =>
        e.InnerException is { } inner && e is LightningException ? $"{e.Message}: {inner.Message}" : e.Message;

    /// <summary>An LMDB result code other than success, raised inside an operation.</summary>
    private sealed class LmdbError(MDBResultCode code, string operation)
        : Exception($"{operation}: LMDB error {code} ({(int)code})")
    {
        public MDBResultCode Code { get; } = code;
    }
}
