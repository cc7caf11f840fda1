namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// The lock Postfix takes on an lmdb database with DICT_FLAG_LOCK (dict_lmdb.c): a whole-file
/// fcntl lock on the database file's descriptor, shared (F_RDLCK) around each lookup or
/// sequence step, exclusive (F_WRLCK) around each update or delete, released after it. With
/// MDB_NOLOCK this lock is what keeps a writer away from readers of old pages, in every
/// process that follows Postfix's rules (postmap -i, proxymap, verify, this server).
/// Open-file-description locks where the kernel has them (they conflict with Postfix's
/// classic locks), classic ones otherwise.
/// </summary>
internal sealed class FileLock(int fd)
{
    private static volatile bool s_classic;

    public int Fd { get; } = fd;

    /// <summary>Takes the lock without waiting: false when another process holds a conflicting one.</summary>
    public bool TryLock(bool exclusive) => Request(exclusive ? Posix.F_WRLCK : Posix.F_RDLCK);

    /// <summary>Releases the lock.</summary>
    public void Unlock() => Request(Posix.F_UNLCK);

    private bool Request(short type)
    {
        int errno = Posix.Lock(Fd, type, ofd: !s_classic);
        if (errno == Posix.EINVAL && !s_classic)
        {
            s_classic = true;                       // a kernel without OFD locks (before 3.15)
            errno = Posix.Lock(Fd, type, ofd: false);
        }
        if (errno == 0) return true;
        if (errno == Posix.EAGAIN) return false;
        throw new IOException($"lock dictionary: {Posix.Describe(errno)}");
    }
}
