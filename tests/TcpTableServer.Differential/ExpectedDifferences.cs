namespace TcpTableServer.Differential;

/// <summary>
/// Known, specified differences between Debian's Postfix 3.7 memcache: client and this
/// server (which follows 3.12): each answer difference is explained by a spec clause, or it
/// counts as a difference.
/// </summary>
public static class ExpectedDifferences
{
    public const string ControlBytes =
        "spec 3.2 step 7, 8.2 (V59/V60): Postfix 3.7 sends keys with control characters to memcached; 3.12 and this server skip them";
    public const string DigestSpaces =
        "spec 8.2 (V58): Postfix 3.7 ignores key_digest and skips keys with whitespace; a digested key has none";
    public const string DigestLong =
        "spec 8.2 (V40/V41): Postfix 3.7 ignores key_digest and sends the key over 250 bytes, which memcached refuses";
    public const string DigestCacheKeys =
        "spec 8.2: Postfix 3.7 ignores key_digest: its items are compared under the digest of their key";

    /// <summary>The spec clause explaining a difference for <paramref name="key"/>, or null.</summary>
    public static string? Explain(CfTemplate cf, string key)
    {
        if (key.Any(c => c is (< ' ' and not ('\t' or '\n' or '\v' or '\f' or '\r')) or '\x7f')) return ControlBytes;
        if (cf.KeyDigest is not null)
        {
            if (key.Any(c => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')) return DigestSpaces;
            if (key.Length > 200) return DigestLong;
        }
        return null;
    }
}
