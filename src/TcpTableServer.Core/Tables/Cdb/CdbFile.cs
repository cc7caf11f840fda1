using TcpTableServer.Async;
using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using TcpTableServer.Tables.Lmdb;

namespace TcpTableServer.Tables.Cdb;

/// <summary>
/// One memory-mapped constant database (D. J. Bernstein's cdb, as Postfix's <c>postmap cdb:</c>
/// writes it with tinycdb): a 2048-byte header of 256 (position, slot count) pairs, the
/// records (key length, value length, key, value; little-endian 32-bit lengths), then the 256
/// hash tables of (hash, record position) slots. A key with hash h lives in table h % 256,
/// probed linearly from slot (h / 256) % slots; a slot with position 0 ends the search.
/// <para>
/// The file is never written by us and never modified in place by postmap (it writes a new
/// file and renames it over the old one), so the mapping of an opened file stays valid for
/// as long as it is open, also after the path names a new file. Every read is bounds-checked
/// against the mapped length: a corrupt file gives <see cref="CdbCorruptException"/>, never a
/// read outside the mapping. Reference-counted: the table swaps files while lookups run, and
/// the mapping is closed when the last reader of a replaced file is done.
/// </para>
/// </summary>
internal sealed unsafe class CdbFile
{
    public const int HeaderSize = 2048;

    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly long _length;
    private int _references = 1;                       // the owner's (the table's current file)

    /// <summary>Which key styles to try (Postfix DICT_FLAG_TRY1NULL | TRY0NULL): the first hit decides for this file.</summary>
    internal int Style = CdbTable.BothStyles;

    /// <summary>Device and inode of the opened file (compared with the path's to notice a replacement).</summary>
    public Posix.FileState Identity { get; }

    public string Path { get; }

    private CdbFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long length, Posix.FileState identity)
    {
        Path = path;
        _map = map;
        _view = view;
        _length = length;
        Identity = identity;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    /// <summary>
    /// Opens and maps <paramref name="path"/> read-only. Throws <see cref="IOException"/>,
    /// <see cref="UnauthorizedAccessException"/> or <see cref="CdbCorruptException"/> (shorter
    /// than the header).
    /// </summary>
    public static CdbFile Open(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        if (!Posix.TryStat((int)stream.SafeFileHandle.DangerousGetHandle(), out var identity, out int errno))
            throw new IOException($"fstat: {Posix.Describe(errno)}");
        long length = stream.Length;
        if (length < HeaderSize)
            throw new CdbCorruptException($"{length} bytes, shorter than the {HeaderSize}-byte cdb header");
        var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        try
        {
            var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            return new CdbFile(path, map, view, length, identity);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    /// <summary>cdb's hash: h = 5381, then h = ((h &lt;&lt; 5) + h) ^ c per byte, modulo 2^32.</summary>
    public static uint Hash(ReadOnlySpan<byte> key)
    {
        uint h = 5381;
        foreach (byte c in key) h = ((h << 5) + h) ^ c;
        return h;
    }

    /// <summary>
    /// The value stored for <paramref name="key"/> (exact bytes), or false. Throws
    /// <see cref="CdbCorruptException"/> when a position or length points outside the file.
    /// </summary>
    public bool TryFind(scoped ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        value = default;
        uint h = Hash(key);
        long header = (h & 255) * 8;
        uint tablePos = U32(header), slots = U32(header + 4);
        if (slots == 0) return false;
        Check(tablePos, (long)slots * 8);
        uint slot = (h >> 8) % slots;
        for (uint probe = 0; probe < slots; probe++)
        {
            long at = tablePos + (long)slot * 8;
            uint slotHash = U32(at), recordPos = U32(at + 4);
            if (recordPos == 0) return false;
            if (slotHash == h)
            {
                Check(recordPos, 8);
                uint keyLength = U32(recordPos), valueLength = U32(recordPos + 4);
                if (keyLength == key.Length)
                {
                    Check(recordPos + 8, (long)keyLength + valueLength);
                    if (Span(recordPos + 8, keyLength).SequenceEqual(key))
                    {
                        value = Span(recordPos + 8 + keyLength, valueLength);
                        return true;
                    }
                }
            }
            if (++slot == slots) slot = 0;
        }
        return false;
    }

    /// <summary>A reference for one reader; false when the file has already been closed.</summary>
    public bool TryAddReference() => RefCount.TryIncrement(ref _references);

    /// <summary>Drops a reference; the last one unmaps and closes the file.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) != 0) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private uint U32(long at)
    {
        Check(at, 4);
        return BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_base + at, 4));
    }

    private ReadOnlySpan<byte> Span(long at, uint length) => new(_base + at, (int)length);

    private void Check(long at, long length)
    {
        if (at < 0 || length < 0 || at + length > _length || length > int.MaxValue)
            throw new CdbCorruptException($"position {at} length {length} outside the file ({_length} bytes)");
    }
}

/// <summary>A cdb file whose positions or lengths point outside it.</summary>
internal sealed class CdbCorruptException(string message) : Exception(message);
