using System.Security.Cryptography;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>The <c>key_digest</c> algorithm (spec 3.1, 3.2 step 5): lowercase hex of the digest.</summary>
public sealed class KeyDigest
{
    private readonly Func<byte[], byte[]> _hash;

    public string Name { get; }

    private KeyDigest(string name, Func<byte[], byte[]> hash)
    {
        Name = name;
        _hash = hash;
    }

    /// <summary>The algorithm for a case-insensitive name, or null when unsupported.</summary>
    public static KeyDigest? Create(string name) => name.ToLowerInvariant() switch
    {
        "sha256" => new KeyDigest("sha256", SHA256.HashData),
        "sha1" => new KeyDigest("sha1", SHA1.HashData),
        "sha384" => new KeyDigest("sha384", SHA384.HashData),
        "sha512" => new KeyDigest("sha512", SHA512.HashData),
        "md5" => new KeyDigest("md5", MD5.HashData),
        _ => null,
    };

    /// <summary>Lowercase hex digest of the octet string <paramref name="key"/>.</summary>
    public string Apply(string key) => Convert.ToHexStringLower(_hash(Octets.ToBytes(key)));
}
