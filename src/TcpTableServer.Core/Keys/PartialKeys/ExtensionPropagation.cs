using System.Text;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// What mail_addr_map (global/mail_addr_map.c) makes of a virtual or canonical value found
/// for the address without its extension, done here because Postfix's client sees our answer
/// as a full-key hit and applies nothing itself:
/// <list type="bullet">
/// <item>a value "@other" becomes the original localpart without the extension, "@other"
/// (quoted as needed); Postfix's client would otherwise prepend the localpart with it;</item>
/// <item>with propagate_unmatched_extensions naming the map's use, the extension is put
/// before the last '@' of every address of the value (mail_addr_crunch), or at its end.</item>
/// </list>
/// A value whose address list this cannot take apart as Postfix's tokenizer does (group
/// syntax, a source route) is a configuration error rather than a guess.
/// </summary>
public static class ExtensionPropagation
{
    public static LookupResult Apply(string key, string extension, LookupResult found, bool propagate)
    {
        string value = found.Value!;
        if (value.StartsWith('@'))
        {
            string address = Rfc822Local.Unquote(key);
            int at = address.LastIndexOf('@');
            string local = at < 0 ? address : address[..at];
            if (local.Length >= extension.Length) local = local[..^extension.Length];
            value = Rfc822Local.Quote(local + value);
        }
        if (!propagate) return found with { Value = value };
        return TryInsert(value, extension, out string? result)
            ? found with { Value = result }
            : LookupResult.ConfigError with { Tier = found.Tier };
    }

    /// <summary>mail_addr_crunch with an extension: every address of the list gets it.</summary>
    public static bool TryInsert(string value, string extension, out string? result)
    {
        result = null;
        var items = new List<string>();
        if (value.Length == 0 || value == "<>") items.Add("\"\"");
        else if (!TrySplit(value, items)) return false;
        if (items.Count == 0)
        {
            result = value;   // no address: Postfix's client reports the non-address result itself
            return true;
        }
        var o = new StringBuilder(value.Length + items.Count * extension.Length);
        foreach (string item in items)
        {
            string address = Rfc822Local.Unquote(item);
            int at = address.LastIndexOf('@');
            address = at < 0 ? address + extension : address[..at] + extension + address[at..];
            if (o.Length > 0) o.Append(", ");
            o.Append(Rfc822Local.Quote(address));
        }
        result = o.ToString();
        return true;
    }

    /// <summary>
    /// The addresses of a comma-separated list: comments dropped, "phrase &lt;addr&gt;"
    /// reduced to addr. False for syntax the simple reading cannot follow.
    /// </summary>
    private static bool TrySplit(string value, List<string> items)
    {
        var item = new StringBuilder();
        string? angle = null;
        bool quoted = false;
        int comment = 0;
        for (int i = 0; i <= value.Length; i++)
        {
            char c = i < value.Length ? value[i] : ',';
            if (quoted)
            {
                item.Append(c);
                if (c == '\\' && i + 1 < value.Length) item.Append(value[++i]);
                else if (c == '"') quoted = false;
                continue;
            }
            if (comment > 0)
            {
                if (c == '(') comment++;
                else if (c == ')') comment--;
                else if (c == '\\' && i + 1 < value.Length) i++;
                if (i == value.Length) return false;   // unterminated comment
                continue;
            }
            switch (c)
            {
                case '"':
                    quoted = true;
                    item.Append(c);
                    break;
                case '(':
                    comment = 1;
                    break;
                case '<':
                    int close = value.IndexOf('>', i + 1);
                    if (close < 0 || angle is not null) return false;
                    angle = value[(i + 1)..close].Trim();
                    if (angle.AsSpan().IndexOfAny(":;") >= 0) return false;   // a source route
                    i = close;
                    break;
                case ',':
                    string text = (angle ?? item.ToString()).Trim();
                    if (text.Length > 0) items.Add(text);
                    item.Clear();
                    angle = null;
                    break;
                case ' ' or '\t' or '\r' or '\n':
                    if (angle is null) item.Append(c);
                    break;
                case ':' or ';' or '>':
                    return false;   // group syntax, a source route, a stray '>'
                default:
                    if (angle is not null) return false;   // text after <addr>
                    item.Append(c);
                    break;
            }
        }
        return !quoted;
    }
}
