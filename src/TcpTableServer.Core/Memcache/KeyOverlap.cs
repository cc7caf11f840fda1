using TcpTableServer.Config;
using TcpTableServer.Keys;

namespace TcpTableServer.Memcache;

/// <summary>
/// Whether two maps that share one memcached can write and read the same memcached key: then
/// one map's lookups can return the other's values, and a tcp <c>put</c> to one map changes
/// the other's answers. The memcached key is the <c>key_format</c> expansion, optionally
/// replaced by its <c>key_digest</c> (spec 3.2 steps 4-5). An expansion (%s, %u, %d, %1..%9)
/// is taken as any string, so the answer is "can collide" whenever some pair of keys could
/// give the same memcached key; a distinct literal prefix per map (key_format = a:%s and
/// b:%s) or digests of different lengths make it "cannot".
/// </summary>
public static class KeyOverlap
{
    public static bool CanCollide(KeyFormat a, KeyDigest? digestA, KeyFormat b, KeyDigest? digestB)
    {
        if (digestA is not null && digestB is not null)
            // Equal digests come from equal inputs (a collision of the hash itself aside).
            return digestA.Name == digestB.Name && Intersect(Tokens(a), Tokens(b));
        if (digestA is not null) return Intersect(Hex(digestA.HexLength), Tokens(b));
        if (digestB is not null) return Intersect(Tokens(a), Hex(digestB.HexLength));
        return Intersect(Tokens(a), Tokens(b));
    }

    /// <summary>
    /// One warning per pair of maps that share a memcached (an endpoint of one map's
    /// <c>memcache</c> or <c>memcache_nodes</c> is also the other's: a key both maps place on
    /// that node meets there, whatever the rest of their rings) and can produce the same
    /// memcached key, with the advice to give each a distinct prefix.
    /// </summary>
    public static IEnumerable<string> SharedKeyWarnings(IReadOnlyList<(string Map, MemcacheSettings Settings)> maps)
    {
        for (int i = 0; i < maps.Count; i++)
            for (int j = i + 1; j < maps.Count; j++)
            {
                var (a, sa) = maps[i];
                var (b, sb) = maps[j];
                var shared = sa.Servers.Intersect(sb.Servers).ToList();
                if (shared.Count == 0) continue;
                if (!CanCollide(sa.KeyFormat, sa.KeyDigest, sb.KeyFormat, sb.KeyDigest)) continue;
                yield return $"maps {a} and {b} share memcached {string.Join(", ", shared)} and can produce the same memcached key " +
                    $"(key_format {sa.KeyFormat.Template}{Digest(sa)} and {sb.KeyFormat.Template}{Digest(sb)}): one map's " +
                    $"answers can come from the other's entries, and an update of one changes the other's answers; " +
                    $"give each a distinct prefix, e.g. key_format = {a}:%s and {b}:%s";
            }
    }

    private static string Digest(MemcacheSettings s) => s.KeyDigest is { } d ? $" with key_digest {d.Name}" : "";

    /// <summary>One position of a pattern: a literal character, any hex digit, or any string (also empty).</summary>
    private readonly record struct Token(TokenKind Kind, char Char = '\0');

    private enum TokenKind : byte { Char, HexDigit, AnyString }

    private static Token[] Tokens(KeyFormat format)
    {
        var tokens = new List<Token>();
        foreach (string? segment in format.Segments())
        {
            if (segment is null) tokens.Add(new Token(TokenKind.AnyString));
            else foreach (char c in segment) tokens.Add(new Token(TokenKind.Char, c));
        }
        return [.. tokens];
    }

    private static Token[] Hex(int length) => Enumerable.Repeat(new Token(TokenKind.HexDigit), length).ToArray();

    /// <summary>
    /// Whether some string matches both patterns: a search over pairs of positions (the
    /// product of the two patterns' automata; AnyString is a self-loop that can also be skipped).
    /// </summary>
    private static bool Intersect(Token[] p, Token[] q)
    {
        var seen = new bool[p.Length + 1, q.Length + 1];
        var work = new Stack<(int, int)>();
        work.Push((0, 0));
        while (work.Count > 0)
        {
            var (i, j) = work.Pop();
            if (seen[i, j]) continue;
            seen[i, j] = true;
            if (i == p.Length && j == q.Length) return true;
            // Skip an AnyString (it may expand to nothing).
            if (i < p.Length && p[i].Kind == TokenKind.AnyString) work.Push((i + 1, j));
            if (j < q.Length && q[j].Kind == TokenKind.AnyString) work.Push((i, j + 1));
            if (i == p.Length || j == q.Length) continue;
            // Both consume one character, if some character fits both positions.
            if (!Compatible(p[i], q[j])) continue;
            int ni = p[i].Kind == TokenKind.AnyString ? i : i + 1;
            int nj = q[j].Kind == TokenKind.AnyString ? j : j + 1;
            work.Push((ni, nj));
        }
        return false;
    }

    private static bool Compatible(Token x, Token y) => (x.Kind, y.Kind) switch
    {
        (TokenKind.AnyString, _) or (_, TokenKind.AnyString) => true,
        (TokenKind.HexDigit, TokenKind.HexDigit) => true,
        (TokenKind.Char, TokenKind.Char) => x.Char == y.Char,
        (TokenKind.Char, TokenKind.HexDigit) => IsHex(x.Char),
        _ => IsHex(y.Char),
    };

    private static bool IsHex(char c) => c is (>= '0' and <= '9') or (>= 'a' and <= 'f');
}
