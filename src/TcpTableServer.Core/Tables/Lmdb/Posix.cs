using System.Runtime.InteropServices;

namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// The few POSIX calls the lmdb table needs and .NET does not offer: statx (device and inode
/// of a path and of an open descriptor, to notice a replaced or removed file), fcntl record
/// locks (Postfix's lock on the database), pread (to check the meta pages without touching
/// the memory map, which raises SIGBUS on a truncated file).
/// </summary>
internal static unsafe partial class Posix
{
    private const string Libc = "libc.so.6";

    public const int EINTR = 4, EAGAIN = 11, EACCES = 13, ENOENT = 2, EINVAL = 22;
    private const int AT_FDCWD = -100, AT_EMPTY_PATH = 0x1000, STATX_BASIC_STATS = 0x7ff;

    /// <summary>What identifies a file and tells whether it changed.</summary>
    public readonly record struct FileState(ulong Device, ulong Inode, long Size, long MtimeSec, uint MtimeNsec, long CtimeSec, uint CtimeNsec)
    {
        public bool SameFile(FileState other) => Device == other.Device && Inode == other.Inode;
    }

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int statx(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, Flock* lockRequest);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    /// <summary>The system's text for an errno value (strerror), e.g. "No such file or directory".</summary>
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>stat(2) of a path: false (with errno) when it does not exist or cannot be read.</summary>
    public static bool TryStat(string path, out FileState state, out int errno)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(path);
        Span<byte> p = n < 1024 ? stackalloc byte[n + 1] : new byte[n + 1];
        System.Text.Encoding.UTF8.GetBytes(path, p);
        p[n] = 0;
        fixed (byte* pp = p) return Statx(AT_FDCWD, pp, 0, out state, out errno);
    }

    /// <summary>fstat(2) of an open descriptor.</summary>
    public static bool TryStat(int fd, out FileState state, out int errno)
    {
        byte empty = 0;
        return Statx(fd, &empty, AT_EMPTY_PATH, out state, out errno);
    }

    private static bool Statx(int dirfd, byte* path, int flags, out FileState state, out int errno)
    {
        byte* b = stackalloc byte[256];
        int rc;
        while ((rc = statx(dirfd, path, flags, STATX_BASIC_STATS, b)) < 0 && Marshal.GetLastPInvokeError() == EINTR) { }
        if (rc < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            state = default;
            return false;
        }
        errno = 0;
        // struct statx: stx_ino @32, stx_size @40, stx_ctime @96, stx_mtime @112,
        // stx_dev_major @136, stx_dev_minor @140 (the same layout on every Linux architecture).
        state = new FileState(
            Device: ((ulong)*(uint*)(b + 136) << 32) | *(uint*)(b + 140),
            Inode: *(ulong*)(b + 32),
            Size: *(long*)(b + 40),
            MtimeSec: *(long*)(b + 112), MtimeNsec: *(uint*)(b + 120),
            CtimeSec: *(long*)(b + 96), CtimeNsec: *(uint*)(b + 104));
        return true;
    }

    /// <summary>Reads up to buffer.Length bytes at offset; the count read, or -errno.</summary>
    public static int PRead(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* b = buffer)
        {
            nint n;
            while ((n = pread(fd, b, (nuint)buffer.Length, offset)) < 0 && Marshal.GetLastPInvokeError() == EINTR) { }
            return n < 0 ? -Marshal.GetLastPInvokeError() : (int)n;
        }
    }

    // struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
    [StructLayout(LayoutKind.Sequential)]
    private struct Flock
    {
        public short Type;
        public short Whence;
        public long Start;
        public long Length;
        public int Pid;
    }

    public const short F_RDLCK = 0, F_WRLCK = 1, F_UNLCK = 2;
    private const int F_SETLK = 6, F_OFD_SETLK = 37;

    /// <summary>
    /// A whole-file fcntl lock (Postfix's myflock MYFLOCK_STYLE_FCNTL: F_RDLCK shared,
    /// F_WRLCK exclusive, F_UNLCK). <paramref name="ofd"/>: an open-file-description lock
    /// (Linux 3.15+), which conflicts with Postfix's classic fcntl locks like a classic one
    /// would, but belongs to the descriptor, so no other close() of the file in this process
    /// can drop it. Never waits: returns 0, or the errno (EAGAIN when another process holds a
    /// conflicting lock).
    /// </summary>
    public static int Lock(int fd, short type, bool ofd)
    {
        var request = new Flock { Type = type, Whence = 0, Start = 0, Length = 0, Pid = 0 };
        int cmd = ofd ? F_OFD_SETLK : F_SETLK;
        while (fcntl(fd, cmd, &request) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            return errno == EACCES ? EAGAIN : errno;
        }
        return 0;
    }
}
