using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// One open LMDB environment on one database file, opened as Postfix's slmdb opens it:
/// MDB_NOSUBDIR | MDB_NOLOCK (no lock file; <see cref="FileLock"/> coordinates processes),
/// the map size at least the file size, the default database.
/// <para>
/// <see cref="Check"/> guards every transaction against a file that LMDB would read beyond
/// its end (SIGBUS) or through a garbage meta page (SIGSEGV): the descriptor's size must not
/// have shrunk, both meta pages must carry LMDB's magic and version, and the roots of the
/// newest one must lie inside the file. The meta pages are read with pread, never through
/// the memory map. Garbage inside data pages that LMDB trusts cannot be detected this way.
/// </para>
/// </summary>
internal sealed unsafe class LmdbFile : IDisposable
{
    private const uint Magic = 0xBEEFC0DE, DataVersion = 1;
    private const int MetaBytes = 152;                       // page header 16 + MDB_meta 136 (64-bit)
    private const ulong InvalidPage = ulong.MaxValue;

    private nint _env;
    private long _largestSize;
    private volatile Validated? _validated;

    private sealed record Validated(Posix.FileState State);

    public nint Env => _env;
    public uint Dbi { get; private set; }
    public FileLock Lock { get; }

    /// <summary>The file as it was when opened (device and inode: is the path still this file?).</summary>
    public Posix.FileState Opened { get; }

    /// <summary>The longest key LMDB accepts (511 bytes in Debian's build).</summary>
    public int MaxKeySize { get; }

    private LmdbFile(nint env, int fd, Posix.FileState opened)
    {
        _env = env;
        Lock = new FileLock(fd);
        Opened = opened;
        _largestSize = opened.Size;
        MaxKeySize = Mdb.mdb_env_get_maxkeysize(env);
    }

    /// <summary>
    /// Opens (and with <paramref name="mayInitialize"/>, creates or initializes an empty) file.
    /// Throws <see cref="MdbException"/> or <see cref="IOException"/> with LMDB's or the
    /// system's reason; the file is validated with <see cref="Check"/> before it is returned.
    /// </summary>
    public static LmdbFile Open(string path, long mapSize, bool mayInitialize)
    {
        if (!mayInitialize)
        {
            if (!Posix.TryStat(path, out var before, out int errno))
                throw new IOException(Posix.Describe(errno));
            if (before.Size == 0)
                throw new IOException("empty file, not an LMDB database");   // LMDB would initialize it
        }
        MdbException.Check(Mdb.mdb_env_create(out nint env), "mdb_env_create");
        try
        {
            MdbException.Check(Mdb.mdb_env_set_mapsize(env, (nuint)mapSize), "mdb_env_set_mapsize");
            MdbException.Check(Mdb.mdb_env_set_assert(env, &OnAssert), "mdb_env_set_assert");
            int n = System.Text.Encoding.UTF8.GetByteCount(path);
            var bytes = new byte[n + 1];
            System.Text.Encoding.UTF8.GetBytes(path, bytes);
            fixed (byte* p = bytes)
                MdbException.Check(Mdb.mdb_env_open(env, p, Mdb.NoSubDir | Mdb.NoLock, Convert.ToInt32("644", 8)), "mdb_env_open");
            MdbException.Check(Mdb.mdb_env_get_fd(env, out int fd), "mdb_env_get_fd");
            if (!Posix.TryStat(fd, out var opened, out int e))
                throw new IOException(Posix.Describe(e));
            var file = new LmdbFile(env, fd, opened);
            if (!file.Check(out string? problem))
                throw new IOException(problem);
            MdbException.Check(Mdb.mdb_txn_begin(env, 0, 0, out nint txn), "mdb_txn_begin");
            int rc = Mdb.mdb_dbi_open(txn, null, 0, out uint dbi);
            if (rc != Mdb.Success)
            {
                Mdb.mdb_txn_abort(txn);
                MdbException.Check(rc, "mdb_dbi_open");
            }
            MdbException.Check(Mdb.mdb_txn_commit(txn), "mdb_txn_commit");
            file.Dbi = dbi;
            return file;
        }
        catch
        {
            Mdb.mdb_env_close(env);
            throw;
        }
    }

    /// <summary>LMDB's assertion handler: LMDB aborts the process right after it; say why first.</summary>
    [UnmanagedCallersOnly]
    private static void OnAssert(nint env, byte* text)
    {
        try { Console.Error.WriteLine($"lmdb: internal error: {Marshal.PtrToStringUTF8((nint)text)}"); }
        catch { /* nothing more can be done: LMDB aborts next */ }
    }

    /// <summary>The current map size.</summary>
    public long MapSize => Mdb.mdb_env_info(_env, out var info) == 0 ? (long)info.MapSize : 0;

    /// <summary>
    /// Whether a transaction may start: the descriptor's size has not shrunk and the meta
    /// pages are sound (see the class remarks). Cheap when nothing changed since the last
    /// check (same size, mtime and ctime): one fstat. Call with the file lock held, so that
    /// no cooperating writer changes the meta pages meanwhile.
    /// </summary>
    public bool Check(out string? problem)
    {
        problem = null;
        int fd = Lock.Fd;
        if (!Posix.TryStat(fd, out var now, out int errno))
        {
            problem = $"fstat: {Posix.Describe(errno)}";
            return false;
        }
        if (_validated is { } v && v.State == now) return true;

        long largest = Interlocked.Read(ref _largestSize);
        if (now.Size < largest)
        {
            problem = $"the file shrank from {largest} to {now.Size} bytes while open (truncated?)";
            return false;
        }
        Span<byte> m0 = stackalloc byte[MetaBytes], m1 = stackalloc byte[MetaBytes];
        if (Posix.PRead(fd, m0, 0) != MetaBytes)
        {
            problem = $"the file has {now.Size} bytes, less than an LMDB meta page";
            return false;
        }
        uint pageSize = BinaryPrimitives.ReadUInt32LittleEndian(m0[40..]);   // mm_psize (FREE_DBI md_pad)
        if (!BadMeta(m0, "first", out problem) && (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) != 0))
            problem = $"implausible page size {pageSize} in the first meta page";
        if (problem is not null) return false;
        if (Posix.PRead(fd, m1, pageSize) != MetaBytes)
        {
            problem = $"the file has {now.Size} bytes, less than two LMDB meta pages";
            return false;
        }
        if (BadMeta(m1, "second", out problem)) return false;

        // LMDB uses the meta page with the larger transaction id; its roots must be in the file.
        var meta = Txn(m0) >= Txn(m1) ? m0 : m1;
        ulong freeRoot = BinaryPrimitives.ReadUInt64LittleEndian(meta[80..]);
        ulong mainRoot = BinaryPrimitives.ReadUInt64LittleEndian(meta[128..]);
        ulong lastPage = BinaryPrimitives.ReadUInt64LittleEndian(meta[136..]);
        foreach (var (root, what) in new[] { (freeRoot, "free-list"), (mainRoot, "main") })
        {
            if (root == InvalidPage) continue;
            if (root > lastPage || (double)(root + 1) * pageSize > now.Size)
            {
                problem = $"the {what} root page {root} is beyond the end of the file ({now.Size} bytes, last page {lastPage})";
                return false;
            }
        }
        InterlockedMax(ref _largestSize, now.Size);
        _validated = new Validated(now);
        return true;
    }

    /// <summary>Forget the last successful check (after our own commit the next check is full).</summary>
    public void Invalidate() => _validated = null;

    private static ulong Txn(ReadOnlySpan<byte> meta) => BinaryPrimitives.ReadUInt64LittleEndian(meta[144..]);

    private static bool BadMeta(ReadOnlySpan<byte> meta, string which, out string? problem)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(meta[16..]);
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(meta[20..]);
        problem = magic != Magic ? $"the {which} meta page has no LMDB magic (0x{magic:x8}): not an LMDB file, or overwritten"
            : version != DataVersion ? $"the {which} meta page has LMDB data version {version}, not {DataVersion}"
            : null;
        return problem is not null;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while ((seen = Interlocked.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    /// <summary>Closes the environment (no transaction may be active in this process).</summary>
    public void Dispose()
    {
        nint env = Interlocked.Exchange(ref _env, 0);
        if (env != 0) Mdb.mdb_env_close(env);
    }
}
