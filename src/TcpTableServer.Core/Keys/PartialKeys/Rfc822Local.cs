using System.Text;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// The external (quoted) and internal (unquoted) forms of an address's localpart, as Postfix's
/// quote_822_local_flags and unquote_822_local (global/quote_822_local.c) make them: Postfix
/// asks a table for each partial key in the query form of the lookup, so the probes must be
/// quoted the same way. Octet strings; 8-bit octets are left alone (QUOTE_FLAG_8BITCLEAN, the default).
/// </summary>
public static class Rfc822Local
{
    /// <summary>
    /// The external form of <paramref name="mailbox"/>: its localpart (up to the last '@', or
    /// all of it with <paramref name="bareLocalpart"/>) quoted when it is not an RFC 822
    /// dot-string. A leading source route ("@a,@b:") is left alone.
    /// </summary>
    public static string Quote(string mailbox, bool bareLocalpart = false)
    {
        int start = 0;
        if (mailbox.Length > 0 && mailbox[0] == '@' && mailbox.IndexOf(':') is var colon and >= 0) start = colon + 1;
        int end = bareLocalpart ? mailbox.Length : mailbox.LastIndexOf('@');
        if (end < start) end = mailbox.Length;
        if (IsDotString(mailbox.AsSpan(start, end - start))) return mailbox;
        var o = new StringBuilder(mailbox.Length + 4);
        o.Append(mailbox, 0, start).Append('"');
        for (int i = start; i < end; i++)
        {
            char c = mailbox[i];
            if (c is '"' or '\\' or '\r') o.Append('\\');
            o.Append(c);
        }
        return o.Append('"').Append(mailbox, end, mailbox.Length - end).ToString();
    }

    /// <summary>
    /// The internal form of <paramref name="mailbox"/>: quotes and backslash escapes removed up
    /// to the last unquoted '@'; the text after it is kept as is.
    /// </summary>
    public static string Unquote(string mailbox)
    {
        if (mailbox.IndexOf('"') < 0 && mailbox.IndexOf('\\') < 0) return mailbox;
        int start = 0;
        if (mailbox.Length > 0 && mailbox[0] == '@' && mailbox.IndexOf(':') is var colon and >= 0) start = colon + 1;
        var o = new StringBuilder(mailbox.Length);
        o.Append(mailbox, 0, start);
        bool inQuote = false;
        int bareAtOut = -1, bareAtIn = -1;
        for (int i = start; i < mailbox.Length; i++)
        {
            char c = mailbox[i];
            if (c == '"')
            {
                inQuote = !inQuote;
                continue;
            }
            if (c == '@')
            {
                if (!inQuote)
                {
                    bareAtOut = o.Length;
                    bareAtIn = i;
                }
            }
            else if (c == '\\')
            {
                if (i + 1 == mailbox.Length) continue;
                c = mailbox[++i];
            }
            o.Append(c);
        }
        if (bareAtOut >= 0)
        {
            o.Length = bareAtOut;
            o.Append(mailbox, bareAtIn, mailbox.Length - bareAtIn);
        }
        return o.ToString();
    }

    /// <summary>is_822_dot_string: atoms separated by single dots, no specials, space or controls.</summary>
    private static bool IsDotString(ReadOnlySpan<char> local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.') return false;
        for (int i = 0; i < local.Length; i++)
        {
            char c = local[i];
            if (c == '.' && i + 1 < local.Length && local[i + 1] == '.') return false;
            if (c == ' ' || c < 32 || c == 127) return false;
            if (c is '(' or ')' or '<' or '>' or '@' or ',' or ';' or ':' or '\\' or '"' or '[' or ']') return false;
        }
        return true;
    }
}
