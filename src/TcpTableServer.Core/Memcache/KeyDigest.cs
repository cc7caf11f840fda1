using System.Buffers;
using System.Security.Cryptography;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>The <c>key_digest</c> algorithm (spec 3.1, 3.2 step 5): lowercase hex of the digest.</summary>
public sealed class KeyDigest
{
    private delegate int Hash(ReadOnlySpan<byte> source, Span<byte> destination);

    private const int StackKeyLimit = 512;

    private readonly Hash _hash;

    public string Name { get; }

    /// <summary>Hex digits of every key this digest makes (twice the hash size).</summary>
    public int HexLength { get; }

    private KeyDigest(string name, Hash hash, int hashBytes)
    {
        Name = name;
        _hash = hash;
        HexLength = 2 * hashBytes;
    }

    /// <summary>The algorithm for a case-insensitive name, or null when unsupported.</summary>
    public static KeyDigest? Create(string name) => name.ToLowerInvariant() switch
    {
        "sha256" => new KeyDigest("sha256", SHA256.HashData, SHA256.HashSizeInBytes),
        "sha1" => new KeyDigest("sha1", SHA1.HashData, SHA1.HashSizeInBytes),
        "sha384" => new KeyDigest("sha384", SHA384.HashData, SHA384.HashSizeInBytes),
        "sha512" => new KeyDigest("sha512", SHA512.HashData, SHA512.HashSizeInBytes),
        "md5" => new KeyDigest("md5", MD5.HashData, MD5.HashSizeInBytes),
        _ => null,
    };

    /// <summary>
    /// Lowercase hex digest of the octet string <paramref name="key"/>; computed on the stack,
    /// the string of a hot key's digest comes from the <see cref="StringPool"/>.
    /// </summary>
    public string Apply(string key)
    {
        byte[]? rented = null;
        Span<byte> bytes = key.Length <= StackKeyLimit
            ? stackalloc byte[StackKeyLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(key.Length));
        try
        {
            Span<byte> digest = stackalloc byte[64];   // SHA-512, the longest
            int length = _hash(bytes[..Octets.GetBytes(key, bytes)], digest);
            Span<char> hex = stackalloc char[128];
            Convert.TryToHexStringLower(digest[..length], hex, out int written);
            return StringPool.Get(hex[..written]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
