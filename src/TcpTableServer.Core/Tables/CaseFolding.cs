using System.Text;

namespace TcpTableServer.Tables;

/// <summary>
/// Postfix's key handling in UTF-8 mode (<c>smtputf8_enable = yes</c>, spec 3.3) over octet
/// strings: <see cref="IsValidUtf8"/> is valid_utf8_stringz() (RFC 3629, C-string semantics) and
/// <see cref="Fold"/> is casefold(): A-Z only for an all-ASCII string (allocation-free), ICU full
/// case folding (<see cref="IcuCaseFolding"/>) for any other.
/// </summary>
public static class CaseFolding
{
    /// <summary>Null when Unicode folding is available, else why not (the text of a configuration error).</summary>
    public static string? Unavailable => IcuCaseFolding.Unavailable;

    /// <summary>
    /// Whether the bytes of <paramref name="s"/> up to its first NUL (a C string, as Postfix
    /// sees it) are valid UTF-8: no stray continuation byte, no overlong form, no surrogate
    /// (U+D800-U+DFFF), nothing above U+10FFFF, no sequence cut short.
    /// </summary>
    public static bool IsValidUtf8(ReadOnlySpan<char> s)
    {
        int nul = s.IndexOf('\0');
        if (nul >= 0) s = s[..nul];
        if (Ascii.IsValid(s)) return true;
        int i = 0;
        while (i < s.Length)
        {
            int lead = s[i];
            if (lead < 0x80) { i++; continue; }
            int tails, low = 0x80, high = 0xBF;          // range of the first continuation byte
            if (lead < 0xC2) return false;                // continuation byte, or overlong 2-byte form
            else if (lead <= 0xDF) tails = 1;
            else if (lead <= 0xEF)
            {
                tails = 2;
                if (lead == 0xE0) low = 0xA0;             // overlong 3-byte form
                else if (lead == 0xED) high = 0x9F;       // surrogates
            }
            else if (lead <= 0xF4)
            {
                tails = 3;
                if (lead == 0xF0) low = 0x90;             // overlong 4-byte form
                else if (lead == 0xF4) high = 0x8F;       // above U+10FFFF
            }
            else return false;
            if (s.Length - i <= tails) return false;
            if (s[i + 1] < low || s[i + 1] > high) return false;
            for (int t = 2; t <= tails; t++)
                if ((s[i + t] & 0xFFC0) != 0x80) return false;
            i += tails + 1;
        }
        return true;
    }

    /// <summary>
    /// Postfix casefold() in UTF-8 mode: an all-ASCII string is folded A-Z only, as
    /// <see cref="Octets.FoldAscii(string)"/> (no allocation once pooled); any other by ICU
    /// full case folding of its bytes as UTF-8 (<c>Ñ</c>→<c>ñ</c>, <c>ß</c>→<c>ss</c>,
    /// <c>İ</c>→<c>i̇</c>, <c>ς</c>→<c>σ</c>, <c>ꭰ</c>→<c>Ꭰ</c>). Null only when ICU is not
    /// available or fails (<see cref="Unavailable"/>).
    /// </summary>
    public static string? Fold(string s) =>
        Ascii.IsValid(s) ? Octets.FoldAscii(s) : IcuCaseFolding.Fold(s);

    /// <summary><see cref="Fold(string)"/> of a part of a string (e.g. the domain of a key).</summary>
    public static string? Fold(ReadOnlySpan<char> s) =>
        Ascii.IsValid(s) ? Octets.FoldAscii(s) : IcuCaseFolding.Fold(s);

    /// <summary>
    /// Postfix casefold() of a key, pattern or domain as a table is opened or a key checked:
    /// <see cref="Fold(string)"/> when <paramref name="unicode"/> (UTF-8 mode; A-Z only should
    /// ICU fail, which was checked at open), else A-Z only. An all-ASCII string that is already
    /// folded is returned as is, without allocating.
    /// </summary>
    public static string Fold(string s, bool unicode) =>
        unicode ? Fold(s) ?? Octets.FoldAscii(s) : Octets.FoldAscii(s);

    /// <summary><see cref="Fold(string, bool)"/> of a part of a string (e.g. the domain of a key).</summary>
    public static string Fold(ReadOnlySpan<char> s, bool unicode) =>
        unicode ? Fold(s) ?? Octets.FoldAscii(s) : Octets.FoldAscii(s);
}
