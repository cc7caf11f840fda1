using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables.Lmdb;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>lmdb:/path</c> (Postfix dict_lmdb): the single file <c>/path.lmdb</c>, in exactly the
/// format <c>postmap lmdb:/path</c> writes and reads, safe to share with Postfix.
/// <list type="bullet">
/// <item>Opened like Postfix's slmdb (<see cref="LmdbFile"/>): MDB_NOSUBDIR | MDB_NOLOCK, map
/// size at least <c>lmdb_map_size</c> (10 MiB) and the file size; MDB_MAP_FULL doubles the
/// map and retries, MDB_MAP_RESIZED (another process grew the file) adopts the new size
/// (mdb_env_set_mapsize(env, 0)) and retries. One instance per file per process
/// (<see cref="TableRegistry"/>).</item>
/// <item>Locked like Postfix with DICT_FLAG_LOCK (<see cref="FileLock"/>): fcntl F_RDLCK around
/// every read transaction, F_WRLCK around every write transaction, so postmap -i, proxymap
/// and this server can write one file together. Threads coordinate in <see cref="LmdbGate"/>.</item>
/// <item>Writes never run on the caller's thread: updates and deletes are queued to one writer
/// thread per file, which applies everything queued in one write transaction and commits it
/// once (group commit, LMDB's default fdatasync + synchronous meta write). Each caller's
/// result is completed only after the commit that contains its write succeeded; a failed
/// commit fails every write in it with <see cref="UpdateStatus.TempError"/>.</item>
/// <item>Lookups run on the caller's thread when the gate is free (microseconds, no thread
/// switch: the memcache miss path); while the writer holds the gate, or another process
/// holds F_WRLCK, or a check is due, the lookup is handed to the writer thread and completes
/// asynchronously, so no socket I/O thread waits for a commit or another process.</item>
/// <item>Before every transaction the open file is checked (<see cref="LmdbFile.Check"/>:
/// not shrunk, sound meta pages); before every write batch and at least once a second the
/// path is compared with the open file (device, inode). A file replaced at the path is
/// reopened; a removed, truncated or overwritten one is closed and every operation answers
/// <see cref="LookupStatus.TempError"/> with a warning until the path holds a sound database
/// again (reopen attempts at most once a second). Nothing is ever written into a file that
/// is no longer the one at the path.</item>
/// <item>Fixed-key table: keys are ASCII-lowercased on every operation (spec 3.3). Keys and
/// values are C strings: written with one trailing NUL; lookups and deletes try "key\0"
/// first, then "key" (DICT_FLAG_TRY1NULL / TRY0NULL, and like Postfix the first hit decides
/// the style for later operations); values end at the first NUL. Update replaces (spec 3.5),
/// delete answers Success or Fail (spec 3.6), sequence returns all entries (spec 3.7).</item>
/// <item>A missing file is a <see cref="ConfigException"/> naming it, as Postfix's
/// "open database FILE: No such file or directory", unless the map asks for creation
/// (<c>backup_create = yes</c>). Run-time errors: warning and TempError (Postfix would exit
/// with a fatal error; a server keeps running).</item>
/// </list>
/// </summary>
public sealed class LmdbTable : ITable
{
    /// <summary>Postfix's lmdb_map_size default.</summary>
    public const long DefaultMapSize = 10 * 1024 * 1024;

    private const int MaxGrowAttempts = 24;
    private const int MaxBatch = 1024;                   // writes per transaction
    private const int MaxQueued = 100_000;               // queued operations before TempError
    private const int CheckIntervalMs = 1000;            // path check and reopen attempts
    private const int LockTimeoutMs = 10_000;            // another process holding the lock

    private const int WithNul = 1, WithoutNul = 2, BothStyles = WithNul | WithoutNul;

    private readonly ILogger _logger;
    // Warnings that can repeat per request: the first is written, the rest summarised per window.
    private readonly LogThrottle _keyTooLong, _lookupFailed, _queueFull, _writeFailed, _updateRejected;
    private readonly LmdbGate _gate = new();
    private readonly int _maxKeySize;
    private volatile LmdbFile? _current;
    private string _problem = "";
    private long _nextPathCheck, _nextReopen;
    private int _style = BothStyles;

    private readonly object _queueSync = new();
    private List<Op> _queue = [];
    private volatile bool _disposed;                     // set under _queueSync: no op is queued after it
    private readonly Thread _writer;
    private readonly List<Op> _reads = [];               // the writer thread's, reused per batch
    private readonly List<WriteOp> _writes = [];

    private LmdbTable(string name, string file, LmdbFile opened, ILogger logger)
    {
        Name = name;
        FilePath = file;
        _logger = logger;
        LogThrottle Throttle(string what) => new(logger, LogLevel.Warning, $"{name}: {what}");
        _keyTooLong = Throttle("keys too long for LMDB");
        _lookupFailed = Throttle("failed lookups");
        _queueFull = Throttle("operations refused while the write queue was full");
        _writeFailed = Throttle("failed write transactions");
        _updateRejected = Throttle("rejected updates");
        _maxKeySize = opened.MaxKeySize;
        Install(opened);
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "lmdb writer" };
        _writer.Start();
    }

    public string Name { get; }

    /// <summary>The database file, name + ".lmdb".</summary>
    public string FilePath { get; }

    /// <summary>The current map size (grows on demand); 0 while no file is open.</summary>
    public long MapSize => _current?.MapSize ?? 0;

    /// <param name="name">The name as written after "lmdb:".</param>
    /// <param name="path">The resolved path without the ".lmdb" suffix.</param>
    /// <param name="logger">Warnings for run-time errors.</param>
    /// <param name="create">Create the file when it is missing or empty (backup_create = yes).</param>
    public static LmdbTable Open(string name, string path, ILogger logger, bool create = false)
    {
        string file = Path.GetFullPath(path + ".lmdb");
        string? directory = Path.GetDirectoryName(file);
        if (directory is null || !Directory.Exists(directory))
            throw new ConfigException($"open database {file}: directory {directory} does not exist");
        if (Directory.Exists(file))
            throw new ConfigException($"open database {file}: is a directory");
        bool exists = File.Exists(file);
        if (!exists && !create)
            throw new ConfigException($"open database {file}: No such file or directory (backup_create = yes creates it)");
        try
        {
            return new LmdbTable("lmdb:" + name, file, LmdbFile.Open(file, MapSizeFor(file), mayInitialize: create), logger);
        }
        catch (Exception e) when (e is MdbException or IOException or UnauthorizedAccessException or DllNotFoundException)
        {
            throw new ConfigException($"open database {file}: {e.Message}", inner: e);
        }
    }

    private static long MapSizeFor(string file) =>
        RoundUp(Math.Max(DefaultMapSize, Posix.TryStat(file, out var s, out _) ? s.Size : 0));

    private void Install(LmdbFile? file)
    {
        _current = file;
        _gate.FileLock = file?.Lock;
        Interlocked.Exchange(ref _style, BothStyles);
    }

    // ---- the operations -------------------------------------------------------------------

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        byte[] k = KeyBytes(key);
        if (TryLookupHere(k, out var result)) return ValueTask.FromResult(result);
        var op = new ReadOp(k);
        return Enqueue(op) ? new ValueTask<LookupResult>(op.Result.Task) : ValueTask.FromResult(LookupResult.TempError);
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) =>
        Write(KeyBytes(key), ValueBytes(value), "update", ct);

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        Write(KeyBytes(key), null, "delete", ct);

    /// <summary>
    /// Updates every entry in one write transaction of its own, committed once (a bulk load's
    /// batch: all of it or nothing): Success after the commit; TempError with nothing written
    /// when a key is too long for LMDB (<see cref="KeyFits"/>) or the transaction fails.
    /// Entries are written in order, so a later duplicate replaces an earlier one.
    /// </summary>
    public ValueTask<UpdateResult> UpdateManyAsync(IReadOnlyList<KeyValuePair<string, string>> entries, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        var writes = new List<WriteOp>(entries.Count);
        foreach (var (key, value) in entries)
        {
            byte[] k = KeyBytes(key);
            if (!Fits(k, "update")) return ValueTask.FromResult(UpdateResult.TempError);
            writes.Add(new WriteOp(k, ValueBytes(value)));
        }
        if (writes.Count == 0) return ValueTask.FromResult(UpdateResult.Success);
        var op = new BatchOp(writes);
        return Enqueue(op) ? new ValueTask<UpdateResult>(op.Result.Task) : ValueTask.FromResult(UpdateResult.TempError);
    }

    /// <summary>
    /// Whether LMDB can store <paramref name="key"/> (as folded and written, with its NUL): the
    /// length of <see cref="KeyBytes"/> without making them (folding keeps the length).
    /// </summary>
    public bool KeyFits(string key)
    {
        int nul = key.IndexOf('\0');
        return (nul < 0 ? key.Length : nul) + 1 <= _maxKeySize;
    }

    /// <summary>Whether LMDB takes the key bytes <paramref name="k"/> of an <paramref name="operation"/>; if not, the (throttled) warning.</summary>
    private bool Fits(byte[] k, string operation)
    {
        if (k.Length <= _maxKeySize) return true;
        if (_keyTooLong.Admit())
            _logger.LogWarning("{Table}: {Operation} failed: key of {Length} bytes is longer than LMDB's limit of {Max}",
                Name, operation, k.Length, _maxKeySize);
        return false;
    }

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        var op = new SequenceOp();
        return Enqueue(op) ? new ValueTask<SequenceResult>(op.Result.Task) : ValueTask.FromResult(SequenceResult.TempError);
    }

    private ValueTask<UpdateResult> Write(byte[] k, byte[]? v, string operation, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (v is null && k.Length > _maxKeySize) return ValueTask.FromResult(UpdateResult.Fail);   // such a key cannot exist
        if (!Fits(k, operation)) return ValueTask.FromResult(UpdateResult.TempError);
        var op = new WriteOp(k, v);
        return Enqueue(op) ? new ValueTask<UpdateResult>(op.Result.Task) : ValueTask.FromResult(UpdateResult.TempError);
    }

    /// <summary>
    /// A lookup on the caller's thread when the gate is free and no check is due; false hands
    /// it to the writer thread (see the class remarks).
    /// </summary>
    private bool TryLookupHere(byte[] k, out LookupResult result)
    {
        result = default;
        if (Environment.TickCount64 >= Volatile.Read(ref _nextPathCheck)) return false;
        try
        {
            if (!_gate.TryEnterShared()) return false;
            try
            {
                var file = _current;
                if (file is null || !file.Check(out _)) return false;
                int rc = Mdb.mdb_txn_begin(file.Env, 0, Mdb.ReadOnly, out nint txn);
                if (rc == Mdb.MapResized) return false;
                MdbException.Check(rc, "mdb_txn_begin");
                try
                {
                    result = Find(file, txn, k);
                }
                finally
                {
                    Mdb.mdb_txn_abort(txn);
                }
                return true;
            }
            finally
            {
                _gate.ExitShared();
            }
        }
        catch (Exception e) when (e is MdbException or IOException)
        {
            if (_lookupFailed.Admit())
                _logger.LogWarning("{Table}: lookup failed: {Error}", Name, e.Message);
            result = LookupResult.TempError;
            return true;
        }
    }

    private LookupResult Find(LmdbFile file, nint txn, byte[] k)
    {
        int style = Volatile.Read(ref _style);
        foreach (int candidate in Candidates(style))
        {
            int rc = Get(txn, file.Dbi, k.AsSpan(0, k.Length - (candidate == WithNul ? 0 : 1)), out var value);
            if (rc is Mdb.NotFound or Mdb.BadValSize) continue;          // BadValSize: no such key can exist
            MdbException.Check(rc, "lookup");
            Decide(candidate);
            return LookupResult.Found(CString(value.Span));
        }
        return LookupResult.NotFound;
    }

    // ---- the writer thread ----------------------------------------------------------------

    private abstract class Op
    {
        public abstract void Fail();
    }

    private sealed class ReadOp(byte[] key) : Op
    {
        public readonly byte[] Key = key;
        public readonly TaskCompletionSource<LookupResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Fail() => Result.TrySetResult(LookupResult.TempError);
    }

    private sealed class SequenceOp : Op
    {
        public readonly TaskCompletionSource<SequenceResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Fail() => Result.TrySetResult(SequenceResult.TempError);
    }

    private sealed class WriteOp(byte[] key, byte[]? value) : Op
    {
        public readonly byte[] Key = key;
        public readonly byte[]? Value = value;            // null: delete
        public readonly TaskCompletionSource<UpdateResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override void Fail() => Result.TrySetResult(UpdateResult.TempError);
    }

    /// <summary>The writes of <see cref="UpdateManyAsync"/>: one transaction of their own.</summary>
    private sealed class BatchOp(List<WriteOp> writes) : Op
    {
        public readonly List<WriteOp> Writes = writes;
        public readonly TaskCompletionSource<UpdateResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail()
        {
            foreach (var w in Writes) w.Fail();
            Result.TrySetResult(UpdateResult.TempError);
        }

        /// <summary>After the transaction: Success, or the first write's failure.</summary>
        public void Complete()
        {
            foreach (var w in Writes)
            {
                var t = w.Result.Task;
                if (!t.IsCompletedSuccessfully) { Result.TrySetResult(UpdateResult.TempError); return; }
                if (t.Result.Status != UpdateStatus.Success) { Result.TrySetResult(t.Result); return; }
            }
            Result.TrySetResult(UpdateResult.Success);
        }
    }

    private bool Enqueue(Op op)
    {
        lock (_queueSync)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_queue.Count >= MaxQueued)
            {
                if (_queueFull.Admit())
                    _logger.LogWarning("{Table}: {Count} operations are waiting for the database: temporary failure", Name, _queue.Count);
                return false;
            }
            _queue.Add(op);
            if (_queue.Count == 1) Monitor.Pulse(_queueSync);
        }
        return true;
    }

    private void WriterLoop()
    {
        var batch = new List<Op>();
        while (true)
        {
            lock (_queueSync)
            {
                while (_queue.Count == 0 && !_disposed) Monitor.Wait(_queueSync);
                if (_queue.Count == 0) return;                   // stopping, everything answered
                (batch, _queue) = (_queue, batch);
            }
            try
            {
                Process(batch);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "{Table}: unexpected error in the writer", Name);
            }
            finally
            {
                foreach (var op in batch) op.Fail();             // no-op for every answered one
                batch.Clear();
            }
        }
    }

    /// <summary>
    /// Reads first (they waited for a commit), then the writes in transactions of up to
    /// <see cref="MaxBatch"/>, in order; a <see cref="BatchOp"/> is one transaction of its own.
    /// </summary>
    private void Process(List<Op> batch)
    {
        _reads.Clear();
        foreach (var op in batch)
            if (op is ReadOp or SequenceOp) _reads.Add(op);
        if (_reads.Count > 0) Exclusive(write: false, _reads, RunReads, "lookup");
        _reads.Clear();

        _writes.Clear();
        foreach (var op in batch)
        {
            if (op is WriteOp w)
            {
                _writes.Add(w);
                if (_writes.Count == MaxBatch) CommitWrites();
            }
            else if (op is BatchOp b)
            {
                CommitWrites();                                    // the writes queued before it go first
                Exclusive(write: true, b.Writes, CommitBatch, "update");
                b.Complete();
            }
        }
        CommitWrites();
    }

    private void CommitWrites()
    {
        if (_writes.Count == 0) return;
        Exclusive(write: true, _writes, CommitBatch, _writes[0].Value is null ? "delete" : "update");
        _writes.Clear();
    }

    /// <summary>
    /// Runs <paramref name="body"/> with this process's readers kept out and the file lock held
    /// (F_WRLCK for writes, F_RDLCK for reads) on a checked file. The lock of another process is
    /// awaited by polling with the gate open, so our own readers go on meanwhile; after
    /// <see cref="LockTimeoutMs"/>, or on any error, every unanswered operation gets TempError.
    /// </summary>
    private void Exclusive<T>(bool write, List<T> ops, Action<LmdbFile, List<T>> body, string operation) where T : Op
    {
        long deadline = Environment.TickCount64 + LockTimeoutMs;
        int pause = 1;
        while (true)
        {
            string? problem;
            _gate.EnterExclusive();
            try
            {
                var file = EnsureFile(out problem);
                if (file is not null)
                {
                    if (!file.Lock.TryLock(write))
                    {
                        if (Environment.TickCount64 < deadline) goto Retry;
                        problem = $"lock dictionary: another process has held the lock for {LockTimeoutMs / 1000} s";
                    }
                    else
                    {
                        bool sound;
                        try
                        {
                            sound = file.Check(out problem);
                            if (sound) body(file, ops);
                        }
                        finally
                        {
                            file.Lock.Unlock();
                        }
                        if (sound) return;
                        Close(file, problem!);
                    }
                }
            }
            catch (Exception e) when (e is MdbException or IOException)
            {
                problem = e.Message;
                // MDB_PANIC: LMDB refuses every later transaction of this environment (a failed
                // meta write, e.g. on a full disk); a fresh one is opened on the next operation.
                if (e is MdbException { Code: Mdb.Panic } && _current is { } broken) Close(broken, problem);
            }
            finally
            {
                _gate.ExitExclusive();
            }
            if (_writeFailed.Admit())                           // each caller gets TempError
                _logger.LogWarning("{Table}: {Operation} failed: {Error}", Name, operation, problem);
            foreach (var op in ops) op.Fail();
            return;

        Retry:                                                  // the finally above has opened the gate
            Thread.Sleep(pause);
            pause = Math.Min(pause * 2, 50);
        }
    }

    /// <summary>
    /// The open file, after comparing it with the path (device and inode): a replaced file is
    /// reopened, a removed one closed; reopening is tried at most once a second. Exclusive only.
    /// </summary>
    private LmdbFile? EnsureFile(out string? problem)
    {
        long now = Environment.TickCount64;
        Volatile.Write(ref _nextPathCheck, now + CheckIntervalMs);
        var file = _current;
        if (!Posix.TryStat(FilePath, out var atPath, out int errno))
        {
            problem = errno == Posix.ENOENT ? "the file was removed" : $"stat: {Posix.Describe(errno)}";
            if (file is not null) Close(file, problem);
            return null;
        }
        if (file is not null && atPath.SameFile(file.Opened))
        {
            problem = null;
            return file;
        }
        if (file is not null)
        {
            _logger.LogWarning("{Table}: {File} was replaced; reopening it", Name, FilePath);
            Close(file, "replaced", warn: false);
        }
        else if (now < _nextReopen)
        {
            problem = _problem;
            return null;
        }
        try
        {
            var opened = LmdbFile.Open(FilePath, MapSizeFor(FilePath), mayInitialize: false);
            Install(opened);
            _logger.LogWarning("{Table}: reopened {File}", Name, FilePath);
            problem = null;
            return opened;
        }
        catch (Exception e) when (e is MdbException or IOException)
        {
            problem = _problem = $"reopen {FilePath}: {e.Message}";
            _nextReopen = now + CheckIntervalMs;
            return null;
        }
    }

    /// <summary>
    /// Closes a file found unusable (no transaction is active: exclusive only); with
    /// <paramref name="warn"/>, says why and that operations fail until it is sound again.
    /// </summary>
    private void Close(LmdbFile file, string problem, bool warn = true)
    {
        if (warn)
            _logger.LogWarning("{Table}: closing {File}: {Problem}; operations fail until it is sound again", Name, FilePath, problem);
        Install(null);
        file.Dispose();
        _problem = problem;
        _nextReopen = Environment.TickCount64 + CheckIntervalMs;
    }

    /// <summary>
    /// The handed-over reads in one read transaction: the snapshot cannot change within it, as
    /// this thread holds the gate exclusively (no write of this process) and the file's F_RDLCK
    /// (no write of a cooperating process).
    /// </summary>
    private void RunReads(LmdbFile file, List<Op> ops)
    {
        nint txn = BeginRead(file);
        try
        {
            foreach (var op in ops)
            {
                if (op is ReadOp read) read.Result.TrySetResult(Find(file, txn, read.Key));
                else ((SequenceOp)op).Result.TrySetResult(ReadAll(file, txn));
            }
        }
        finally
        {
            Mdb.mdb_txn_abort(txn);
        }
    }

    /// <summary>A read transaction; MDB_MAP_RESIZED adopts the size another process gave the map.</summary>
    private static nint BeginRead(LmdbFile file)
    {
        int rc = Mdb.mdb_txn_begin(file.Env, 0, Mdb.ReadOnly, out nint txn);
        if (rc == Mdb.MapResized)
        {
            MdbException.Check(Mdb.mdb_env_set_mapsize(file.Env, 0), "mdb_env_set_mapsize");
            rc = Mdb.mdb_txn_begin(file.Env, 0, Mdb.ReadOnly, out txn);
        }
        MdbException.Check(rc, "mdb_txn_begin");
        return txn;
    }

    private unsafe SequenceResult ReadAll(LmdbFile file, nint txn)
    {
        var entries = new List<KeyValuePair<string, string>>();
        MdbException.Check(Mdb.mdb_cursor_open(txn, file.Dbi, out nint cursor), "sequence");
        try
        {
            Mdb.Val key = default, value = default;
            for (int rc = Mdb.mdb_cursor_get(cursor, ref key, ref value, Mdb.CursorFirst); rc != Mdb.NotFound;
                 rc = Mdb.mdb_cursor_get(cursor, ref key, ref value, Mdb.CursorNext))
            {
                MdbException.Check(rc, "sequence");
                entries.Add(new(CString(key.Span), CString(value.Span)));
            }
        }
        finally
        {
            Mdb.mdb_cursor_close(cursor);
        }
        return SequenceResult.Of(entries);
    }

    /// <summary>
    /// One write transaction for <paramref name="ops"/>, committed once; results are handed out
    /// only after the commit succeeded. MDB_MAP_FULL grows the map and redoes the whole batch.
    /// </summary>
    private void CommitBatch(LmdbFile file, List<WriteOp> ops)
    {
        var results = new UpdateResult[ops.Count];
        for (int attempt = 0; ; attempt++)
        {
            nint txn = 0;
            try
            {
                int rc = Mdb.mdb_txn_begin(file.Env, 0, 0, out txn);
                if (rc == Mdb.MapResized && attempt < MaxGrowAttempts)
                {
                    txn = 0;
                    MdbException.Check(Mdb.mdb_env_set_mapsize(file.Env, 0), "mdb_env_set_mapsize");
                    continue;
                }
                MdbException.Check(rc, "mdb_txn_begin");
                for (int i = 0; i < ops.Count; i++)
                    results[i] = Apply(file, txn, ops[i]);
                rc = Mdb.mdb_txn_commit(txn);
                txn = 0;                                           // committed or aborted by LMDB
                if (rc == Mdb.MapFull && attempt < MaxGrowAttempts)
                {
                    Grow(file);
                    continue;
                }
                MdbException.Check(rc, "commit");
                file.Invalidate();
                for (int i = 0; i < ops.Count; i++) ops[i].Result.TrySetResult(results[i]);
                return;
            }
            catch (MdbException e) when (e.Code == Mdb.MapFull && attempt < MaxGrowAttempts)
            {
                if (txn != 0) Mdb.mdb_txn_abort(txn);
                txn = 0;
                Grow(file);
            }
            finally
            {
                if (txn != 0) Mdb.mdb_txn_abort(txn);
            }
        }
    }

    private UpdateResult Apply(LmdbFile file, nint txn, WriteOp op)
    {
        byte[] k = op.Key;
        if (op.Value is { } v)
        {
            // Undecided: Postfix's default style, key and value with their NUL.
            int style = Volatile.Read(ref _style);
            if (style == BothStyles) Decide(WithNul);
            int trim = Volatile.Read(ref _style) == WithNul ? 0 : 1;
            int rc = Put(txn, file.Dbi, k.AsSpan(0, k.Length - trim), v.AsSpan(0, v.Length - trim));
            if (rc == Mdb.BadValSize)
            {
                if (_updateRejected.Admit())
                    _logger.LogWarning("{Table}: update failed: {Error}", Name, Mdb.Error(rc));
                return UpdateResult.TempError;
            }
            MdbException.Check(rc, "update");
            return UpdateResult.Success;
        }
        foreach (int candidate in Candidates(Volatile.Read(ref _style)))
        {
            int rc = Del(txn, file.Dbi, k.AsSpan(0, k.Length - (candidate == WithNul ? 0 : 1)));
            if (rc is Mdb.NotFound or Mdb.BadValSize) continue;
            MdbException.Check(rc, "delete");
            Decide(candidate);
            return UpdateResult.Success;
        }
        return UpdateResult.Fail;
    }

    private void Grow(LmdbFile file)
    {
        long size = RoundUp(file.MapSize * 2);
        _logger.LogInformation("{Table}: growing the LMDB map size from {Old} to {New} bytes", Name, file.MapSize, size);
        MdbException.Check(Mdb.mdb_env_set_mapsize(file.Env, (nuint)size), "mdb_env_set_mapsize");
    }

    public ValueTask DisposeAsync()
    {
        lock (_queueSync)
        {
            if (_disposed) return ValueTask.CompletedTask;
            _disposed = true;
            Monitor.Pulse(_queueSync);
        }
        _writer.Join();                                         // answers everything queued first
        foreach (var t in new[] { _keyTooLong, _lookupFailed, _queueFull, _writeFailed, _updateRejected }) t.Dispose();
        _gate.EnterExclusive();
        try
        {
            var file = _current;
            Install(null);
            file?.Dispose();
        }
        finally
        {
            _gate.ExitExclusive();
        }
        return ValueTask.CompletedTask;
    }

    // ---- keys, values and key styles --------------------------------------------------------

    private static readonly int[] BothCandidates = [WithNul, WithoutNul], WithNulOnly = [WithNul], WithoutNulOnly = [WithoutNul];

    /// <summary>The key styles still undecided, with-NUL first (shared arrays: no allocation per operation).</summary>
    private static int[] Candidates(int style) => style switch
    {
        BothStyles => BothCandidates,
        WithNul => WithNulOnly,
        _ => WithoutNulOnly,
    };

    /// <summary>The first hit decides the style (Postfix clears the other TRY flag).</summary>
    private void Decide(int style) => Interlocked.CompareExchange(ref _style, style, BothStyles);

    private static unsafe int Get(nint txn, uint dbi, ReadOnlySpan<byte> key, out Mdb.Val value)
    {
        fixed (byte* k = key)
        {
            var kv = new Mdb.Val { Size = (nuint)key.Length, Data = k };
            return Mdb.mdb_get(txn, dbi, ref kv, out value);
        }
    }

    private static unsafe int Put(nint txn, uint dbi, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var kv = new Mdb.Val { Size = (nuint)key.Length, Data = k };
            var vv = new Mdb.Val { Size = (nuint)value.Length, Data = v };
            return Mdb.mdb_put(txn, dbi, ref kv, ref vv, 0);
        }
    }

    private static unsafe int Del(nint txn, uint dbi, ReadOnlySpan<byte> key)
    {
        fixed (byte* k = key)
        {
            var kv = new Mdb.Val { Size = (nuint)key.Length, Data = k };
            return Mdb.mdb_del(txn, dbi, ref kv, null);
        }
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
    private static string CString(ReadOnlySpan<byte> bytes) => Octets.FromCString(bytes);

    private static long RoundUp(long size) => (size + 0xFFFFF) & ~0xFFFFFL;   // whole MiB
}
