namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// Who may use the environment now, inside this process and (through the
/// <see cref="FileLock"/>) among processes. LMDB with MDB_NOLOCK requires one writer at a
/// time and no reader while a writer is active (a writer may reuse pages old readers still
/// read). fcntl locks belong to the process (or descriptor), not to threads, so the threads
/// of this process coordinate here: any number of readers share the process's F_RDLCK, taken
/// by the first and released by the last; the writer thread excludes them all, then takes
/// F_RDLCK or F_WRLCK itself. Readers never wait: <see cref="TryEnterShared"/> answers false
/// when the writer holds or awaits the gate or another process holds F_WRLCK, and the caller
/// hands its read to the writer thread instead of blocking a socket I/O thread.
/// </summary>
internal sealed class LmdbGate
{
    private readonly object _sync = new();
    private int _readers;
    private bool _exclusive, _exclusiveWaiting;
    private FileLock? _lock;

    /// <summary>The current file's lock; null while no file is open. Set only while exclusive.</summary>
    public FileLock? FileLock
    {
        set { lock (_sync) _lock = value; }
    }

    /// <summary>Enters as a reader holding the process's shared file lock, or answers false at once.</summary>
    public bool TryEnterShared()
    {
        lock (_sync)
        {
            if (_exclusive || _exclusiveWaiting || _lock is null) return false;
            if (_readers == 0 && !_lock.TryLock(exclusive: false)) return false;
            _readers++;
            return true;
        }
    }

    public void ExitShared()
    {
        lock (_sync)
        {
            if (--_readers > 0) return;
            try
            {
                _lock?.Unlock();
            }
            finally
            {
                if (_exclusiveWaiting) Monitor.PulseAll(_sync);
            }
        }
    }

    /// <summary>The writer thread: waits for the readers inside (microseconds) and keeps new ones out.</summary>
    public void EnterExclusive()
    {
        lock (_sync)
        {
            _exclusiveWaiting = true;
            while (_readers > 0) Monitor.Wait(_sync);
            _exclusiveWaiting = false;
            _exclusive = true;
        }
    }

    public void ExitExclusive()
    {
        lock (_sync) _exclusive = false;
    }
}
