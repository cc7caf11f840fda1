using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>inline:{ key=value, key2=value2 }</c> (Postfix dict_inline): the braces enclose a list
/// separated by commas and whitespace; each element is <c>key=value</c>, or
/// <c>{ key = value with spaces }</c>. Keys stay in their quoted form and are ASCII-folded
/// (Unicode-folded in UTF-8 mode, spec 3.3, as Debian's Postfix does);
/// a later duplicate replaces an earlier one (dict_inline does no duplicate check). An
/// empty table or bad syntax is a <see cref="ConfigException"/>. Read-only.
/// </summary>
public sealed class InlineTable : HashTable
{
    private InlineTable(string name, IReadOnlyList<KeyValuePair<string, string>> entries, ILogger logger)
        : base(name, entries, logger) { }

    /// <param name="name">The text after "inline:", braces included.</param>
    /// <param name="utf8">UTF-8 mode: keys folded by <see cref="CaseFolding.Fold(string)"/>.</param>
    public static InlineTable Open(string name, ILogger logger, bool utf8 = false) =>
        new("inline:" + name, Parse(name, utf8), logger);

    /// <summary>Parses the inline text into folded entries; throws <see cref="ConfigException"/>.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Parse(string name, bool utf8 = false)
    {
        int len = PostfixSyntax.BalancedLength(name);
        if (len == 0 || len != name.Length || len == 2)
            throw Bad(name, "bad syntax");

        var order = new List<string>();
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var token in PostfixSyntax.SplitList(name[1..(len - 1)]))
        {
            string element = token;
            if (element.StartsWith('{'))
                element = PostfixSyntax.StripBraces(element, out var braceError) ?? throw Bad(name, braceError!);
            if (SplitNameValue(element, out var key, out var value) is { } error)
                throw Bad(name, error);
            key = CaseFolding.Fold(key, utf8);
            if (!map.ContainsKey(key)) order.Add(key);
            map[key] = value;
        }
        if (order.Count == 0)
            throw Bad(name, "empty table");
        return [.. order.Select(k => new KeyValuePair<string, string>(k, map[k]))];
    }

    /// <summary>
    /// Postfix split_qnameval: "key = value" or "key =", the key possibly quoted with a
    /// backslash or double quotes (the quotes stay part of the key). Returns an error or null.
    /// </summary>
    internal static string? SplitNameValue(string text, out string key, out string value)
    {
        key = value = "";
        int k = 0;
        while (k < text.Length && PostfixSyntax.IsSpace(text[k])) k++;
        if (k == text.Length)
            return "no key found; expected format: key = value";
        int end = k;
        bool inQuotes = false;
        for (; end < text.Length; end++)
        {
            char c = text[end];
            if (c == '\\')
            {
                if (++end == text.Length) break;
            }
            else if (PostfixSyntax.IsSpace(c) || c == '=')
            {
                if (!inQuotes) break;
            }
            else if (c == '"')
                inQuotes = !inQuotes;
        }
        if (inQuotes)
            return "unbalanced '\"'";
        int v = end;
        while (v < text.Length && PostfixSyntax.IsSpace(text[v])) v++;
        if (v == text.Length || text[v] != '=')
            return "missing '=' after attribute name";
        key = text[k..end];
        value = PostfixSyntax.TrimSpace(text[(v + 1)..]);
        return null;
    }

    private static ConfigException Bad(string name, string why) =>
        new($"{why}: \"inline:{name}\"; need \"inline:{{name=value...}}\"");
}
