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

    /// <summary>Octet string from text (UTF-8 encoded), e.g. a value typed on a command line.</summary>
    public static string FromUtf8(string text) => FromBytes(Encoding.UTF8.GetBytes(text));

    /// <summary>Text (UTF-8 decoded, invalid sequences replaced) for display and logs.</summary>
    public static string ToDisplay(string octets) => Encoding.UTF8.GetString(ToBytes(octets));

    /// <summary>ASCII-only case folding (A-Z to a-z), as Postfix does without SMTPUTF8 (spec 3.3).</summary>
    public static string FoldAscii(string s)
    {
        int i = 0;
        while (i < s.Length && (s[i] < 'A' || s[i] > 'Z')) i++;
        if (i == s.Length) return s;
        if (s.Length <= StringPool.MaxLength)
        {
            Span<char> folded = stackalloc char[StringPool.MaxLength];
            folded = folded[..s.Length];
            Fold(s, i, folded);
            return StringPool.Get(folded);
        }
        return string.Create(s.Length, (s, i), static (span, st) => Fold(st.s, st.i, span));
    }

    private static void Fold(string s, int from, Span<char> into)
    {
        s.AsSpan().CopyTo(into);
        for (int j = from; j < into.Length; j++)
            if (into[j] >= 'A' && into[j] <= 'Z') into[j] = (char)(into[j] + 32);
    }
}
