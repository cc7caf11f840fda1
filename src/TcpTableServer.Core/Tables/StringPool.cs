namespace TcpTableServer.Tables;

/// <summary>
/// A bounded pool of short octet strings for the request path (no allocation per
/// request on the hit path). Keys arrive as bytes and values leave memcached as bytes, but
/// tables speak strings; the same hot keys and values come back request after request, so
/// turning their bytes into the string made last time allocates nothing (Kestrel reuses
/// header strings the same way).
/// <list type="bullet">
/// <item>Bounded: <see cref="Sets"/> x <see cref="Ways"/> slots, strings of at most
/// <see cref="MaxLength"/> chars (a longer one is created and not kept): 1.25 MiB of slots
/// and sightings, and once every slot is taken about 5 MiB of address-length strings
/// (14 MiB at most). A full set drops its oldest string.</item>
/// <item>Cheap to probe: a set's four slots (hash and string) are 64 bytes side by side (one
/// cache line, two where the array's alignment splits them), and a string is read only when
/// its hash matches, so a probe costs about what the allocation it saves would
/// (docs/benchmarks.md, "measurements behind comments").</item>
/// <item>Kept on the second sighting: a string's first miss only records its hash among its
/// set's last misses, so the one-off keys of ordinary mail traffic never enter the pool.
/// Kept strings live long and are promoted by the GC; if every one-off key went in, each
/// would be evicted after surviving a few collections, garbage the GC collects only in its
/// costly old generation.</item>
/// <item>Lock-free: racing writers can lose or duplicate an entry, or leave a slot whose hash
/// and string come from different writes, but a string is returned only after its content
/// compared equal to the request's: a race costs an allocation, never a wrong string.</item>
/// <item>Hashed with the runtime's randomized string hash: crafted keys cannot target a set
/// (and could only cost allocations anyway).</item>
/// </list>
/// </summary>
public static class StringPool
{
    /// <summary>Longest string kept (chars = octets); longer ones are created each time.</summary>
    public const int MaxLength = 96;

    private const int Ways = 4, Sets = 16384;

    /// <summary>A slot: the string and its hash, so that a probe reads the set's 64 bytes and at most the matching string.</summary>
    private struct Slot
    {
        public int Hash;
        public string? Value;
    }

    private static readonly Slot[] Slots = new Slot[Sets * Ways];

    /// <summary>The doorkeeper: per set, the hashes of the last <see cref="Ways"/> strings that missed.</summary>
    private static readonly int[] Seen = new int[Sets * Ways];

    /// <summary>The string of these octets (Latin-1, byte for char), from the pool when it is there.</summary>
    public static string FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxLength) return Octets.FromBytes(bytes);
        Span<char> chars = stackalloc char[MaxLength];
        int n = Octets.Encoding.GetChars(bytes, chars);
        return Get(chars[..n]);
    }

    /// <summary>The string of these chars, from the pool when it is there.</summary>
    public static string Get(ReadOnlySpan<char> chars)
    {
        if (chars.IsEmpty) return "";
        if (chars.Length > MaxLength) return new string(chars);
        int hash = string.GetHashCode(chars);
        int start = (hash & (Sets - 1)) * Ways;
        var set = Slots.AsSpan(start, Ways);
        foreach (ref readonly Slot slot in set)
            if (slot.Hash == hash && slot.Value is { } s && chars.SequenceEqual(s)) return s;
        string created = new(chars);
        var seen = Seen.AsSpan(start, Ways);
        if (!seen.Contains(hash))
        {
            // first sighting (or not among the set's last misses): remember the hash only
            for (int i = Ways - 1; i > 0; i--) seen[i] = seen[i - 1];
            seen[0] = hash;
            return created;
        }
        for (int i = Ways - 1; i > 0; i--) set[i] = set[i - 1];
        set[0] = new Slot { Hash = hash, Value = created };
        return created;
    }
}
