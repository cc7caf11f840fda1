using System.Text;

namespace TcpTableServer.Tables;

/// <summary>
/// Octet strings: .NET strings whose chars are bytes 0x00-0xFF (Latin-1), so that keys and
/// values travel byte-exact between the wire, memcached and the tables.
/// </summary>
public static class Octets
{
    public static readonly Encoding Encoding = Encoding.Latin1;

    public static string FromBytes(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static byte[] ToBytes(string s) => Encoding.Latin1.GetBytes(s);

    public static int GetBytes(string s, Span<byte> dest) => Encoding.Latin1.GetBytes(s, dest);

    /// <summary>The octet string Postfix sees in <paramref name="bytes"/> as a C string: up to the first NUL.</summary>
    public static string FromCString(ReadOnlySpan<byte> bytes)
    {
        int nul = bytes.IndexOf((byte)0);
        return FromBytes(nul < 0 ? bytes : bytes[..nul]);
    }

    /// <summary>Octet string from text (UTF-8 encoded), e.g. a value typed on a command line.</summary>
    public static string FromUtf8(string text) => FromBytes(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// Text (UTF-8 decoded, invalid sequences replaced) for display and logs, and where Postfix
    /// hands the octets to a library that takes UTF-8 text (a database name, a file path).
    /// </summary>
    public static string ToDisplay(string octets) => Encoding.UTF8.GetString(ToBytes(octets));

    /// <summary>ASCII-only case folding (A-Z to a-z), as Postfix does without SMTPUTF8 (spec 3.3).</summary>
    public static string FoldAscii(string s)
    {
        int i = 0;
        while (i < s.Length && (s[i] < 'A' || s[i] > 'Z')) i++;
        return i == s.Length ? s : FoldAscii(s.AsSpan());
    }

    /// <summary>The folded string of <paramref name="s"/>; a short one comes from the <see cref="StringPool"/>.</summary>
    public static string FoldAscii(ReadOnlySpan<char> s)
    {
        if (s.Length > StringPool.MaxLength) return string.Create(s.Length, s, static (into, from) => Fold(from, into));
        Span<char> folded = stackalloc char[StringPool.MaxLength];
        folded = folded[..s.Length];
        Fold(s, folded);
        return StringPool.Get(folded);
    }

    /// <summary>Whether <paramref name="s"/> folded (<see cref="FoldAscii(string)"/>) equals <paramref name="folded"/>.</summary>
    public static bool EqualsFolded(ReadOnlySpan<char> s, ReadOnlySpan<char> folded)
    {
        if (s.Length != folded.Length) return false;
        for (int i = 0; i < s.Length; i++)
            if (Fold(s[i]) != folded[i]) return false;
        return true;
    }

    private static char Fold(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;

    private static void Fold(ReadOnlySpan<char> s, Span<char> into)
    {
        for (int j = 0; j < s.Length; j++) into[j] = Fold(s[j]);
    }
}
