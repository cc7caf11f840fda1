namespace TcpTableServer.Tables;

/// <summary>
/// Small pieces of Postfix's string syntax shared by the table parsers: ISSPACE, balanced
/// <c>{ }</c> groups (balpar, extpar) and list splitting that keeps groups whole (mystrtokq).
/// </summary>
internal static class PostfixSyntax
{
    /// <summary>Postfix ISSPACE in the C locale: space, \t, \n, \v, \f, \r.</summary>
    public static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    public static string TrimSpace(string s)
    {
        int start = 0, end = s.Length;
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>
    /// Length of the balanced <c>{...}</c> group that starts at <paramref name="s"/>[0],
    /// or 0 when <paramref name="s"/> does not start with '{' or the group is not closed.
    /// </summary>
    public static int BalancedLength(string s)
    {
        if (s.Length == 0 || s[0] != '{') return 0;
        int level = 1;
        for (int i = 1; i < s.Length; i++)
        {
            if (s[i] == '}' && --level == 0) return i + 1;
            if (s[i] == '{') level++;
        }
        return 0;
    }

    /// <summary>
    /// Postfix extpar with EXTPAR_FLAG_STRIP: the text inside a <c>{...}</c> group that must
    /// span all of <paramref name="s"/>, with surrounding whitespace removed.
    /// Returns null and an error message on bad syntax.
    /// </summary>
    public static string? StripBraces(string s, out string? error)
    {
        int len = BalancedLength(s);
        if (s.Length == 0 || s[0] != '{')
            error = $"no '{{' at start of text in \"{s}\"";
        else if (len == 0)
            error = $"missing '}}' in \"{s}\"";
        else if (len != s.Length)
            error = $"syntax error after '}}' in \"{s}\"";
        else
        {
            error = null;
            return TrimSpace(s[1..(len - 1)]);
        }
        return null;
    }

    /// <summary>
    /// Postfix mystrtokq with separators ", \t\r\n" and parentheses "{}": splits a list on
    /// commas and whitespace, never inside a <c>{...}</c> group.
    /// </summary>
    public static List<string> SplitList(string s)
    {
        var tokens = new List<string>();
        int i = 0;
        while (true)
        {
            while (i < s.Length && IsListSeparator(s[i])) i++;
            if (i >= s.Length) return tokens;
            int start = i, level = 0;
            for (; i < s.Length; i++)
            {
                char c = s[i];
                if (c == '{') level++;
                else if (level > 0 && c == '}') level--;
                else if (level == 0 && IsListSeparator(c)) break;
            }
            tokens.Add(s[start..i]);
        }
    }

    private static bool IsListSeparator(char c) => c is ',' or ' ' or '\t' or '\r' or '\n';
}
