using System.Runtime.InteropServices;

namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// The LMDB C API (Debian's liblmdb.so.0, the library Postfix's postfix-lmdb uses), bound
/// directly: the environment's file descriptor, mdb_env_set_mapsize(env, 0) for
/// MDB_MAP_RESIZED and a transaction per operation are all this server needs, with blittable
/// signatures (Native AOT).
/// </summary>
internal static unsafe partial class Mdb
{
    private const string Lib = "liblmdb.so.0";

    public const uint NoSubDir = 0x4000, NoLock = 0x400000, ReadOnly = 0x20000;
    public const int Success = 0, NotFound = -30798, Panic = -30795, MapFull = -30792, MapResized = -30785, BadValSize = -30781;
    public const int CursorFirst = 0, CursorNext = 8;

    [StructLayout(LayoutKind.Sequential)]
    public struct Val
    {
        public nuint Size;
        public byte* Data;
        public ReadOnlySpan<byte> Span => new(Data, checked((int)Size));
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct EnvInfo
    {
        public nint MapAddress;
        public nuint MapSize;
        public nuint LastPage;
        public nuint LastTxnId;
        public uint MaxReaders;
        public uint NumReaders;
    }

    [LibraryImport(Lib)] public static partial int mdb_env_create(out nint env);
    [LibraryImport(Lib)] public static partial int mdb_env_set_mapsize(nint env, nuint size);
    [LibraryImport(Lib)] public static partial int mdb_env_open(nint env, byte* path, uint flags, int mode);
    [LibraryImport(Lib)] public static partial void mdb_env_close(nint env);
    [LibraryImport(Lib)] public static partial int mdb_env_get_fd(nint env, out int fd);
    [LibraryImport(Lib)] public static partial int mdb_env_info(nint env, out EnvInfo info);
    [LibraryImport(Lib)] public static partial int mdb_env_get_maxkeysize(nint env);
    [LibraryImport(Lib)] public static partial int mdb_env_set_assert(nint env, delegate* unmanaged<nint, byte*, void> callback);
    [LibraryImport(Lib)] public static partial int mdb_txn_begin(nint env, nint parent, uint flags, out nint txn);
    [LibraryImport(Lib)] public static partial int mdb_txn_commit(nint txn);
    [LibraryImport(Lib)] public static partial void mdb_txn_abort(nint txn);
    [LibraryImport(Lib)] public static partial int mdb_dbi_open(nint txn, byte* name, uint flags, out uint dbi);
    [LibraryImport(Lib)] public static partial int mdb_get(nint txn, uint dbi, ref Val key, out Val data);
    [LibraryImport(Lib)] public static partial int mdb_put(nint txn, uint dbi, ref Val key, ref Val data, uint flags);
    [LibraryImport(Lib)] public static partial int mdb_del(nint txn, uint dbi, ref Val key, Val* data);
    [LibraryImport(Lib)] public static partial int mdb_cursor_open(nint txn, uint dbi, out nint cursor);
    [LibraryImport(Lib)] public static partial int mdb_cursor_get(nint cursor, ref Val key, ref Val data, int op);
    [LibraryImport(Lib)] public static partial void mdb_cursor_close(nint cursor);
    [LibraryImport(Lib)] private static partial byte* mdb_strerror(int err);

    /// <summary>LMDB's text for an error code (errno values included).</summary>
    public static string Error(int rc) => Marshal.PtrToStringUTF8((nint)mdb_strerror(rc)) ?? $"error {rc}";
}

/// <summary>An LMDB call that failed, with its code.</summary>
internal sealed class MdbException(int code, string operation) : Exception($"{operation}: {Mdb.Error(code)}")
{
    public int Code { get; } = code;

    public static void Check(int rc, string operation)
    {
        if (rc != Mdb.Success) throw new MdbException(rc, operation);
    }
}
