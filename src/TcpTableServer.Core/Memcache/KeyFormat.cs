using System.Text;

namespace TcpTableServer.Memcache;

/// <summary>
/// The memcache <c>key_format</c> template (spec section 4): parsed once at open, expanded
/// per request on the case-folded key. Valid sequences: <c>%%</c>, <c>%s</c>, <c>%S</c>,
/// <c>%u</c>, <c>%U</c>, <c>%d</c>, <c>%D</c>, <c>%1</c>…<c>%9</c>.
/// </summary>
public sealed class KeyFormat
{
    private enum Kind : byte { Literal, Whole, User, Domain, Label }

    private readonly record struct Part(Kind Kind, string Text = "", int Label = 0);

    private readonly Part[] _parts;
    private readonly bool _usesDomain;
    private readonly bool _usesUser;
    private readonly int _maxLabel;

    /// <summary>The template as configured.</summary>
    public string Template { get; }

    /// <summary>True when the template is exactly <c>%s</c>: the expansion step is bypassed (4.1).</summary>
    public bool IsIdentity => Template == "%s";

    private KeyFormat(string template, Part[] parts)
    {
        Template = template;
        _parts = parts;
        foreach (var p in parts)
        {
            _usesDomain |= p.Kind is Kind.Domain or Kind.Label;
            _usesUser |= p.Kind == Kind.User;
            if (p.Kind == Kind.Label) _maxLabel = Math.Max(_maxLabel, p.Label);
        }
    }

    /// <summary>The default template <c>%s</c>.</summary>
    public static readonly KeyFormat Default = Parse("%s", out _)!;

    /// <summary>
    /// Parses a template (4.1). Returns null with an error text ("Invalid query template")
    /// for any other character after <c>%</c>, including a trailing <c>%</c>.
    /// </summary>
    public static KeyFormat? Parse(string template, out string? error)
    {
        error = null;
        var parts = new List<Part>();
        var literal = new StringBuilder();
        for (int i = 0; i < template.Length; i++)
        {
            char c = template[i];
            if (c != '%') { literal.Append(c); continue; }
            if (i + 1 >= template.Length)
            {
                error = $"Invalid query template: {template} (\"%\" at the end)";
                return null;
            }
            char s = template[++i];
            Part? part = s switch
            {
                's' or 'S' => new Part(Kind.Whole),
                'u' or 'U' => new Part(Kind.User),
                'd' or 'D' => new Part(Kind.Domain),
                >= '1' and <= '9' => new Part(Kind.Label, Label: s - '0'),
                _ => null,
            };
            if (s == '%') { literal.Append('%'); continue; }
            if (part is null)
            {
                error = $"Invalid query template: {template} (unknown sequence \"%{s}\")";
                return null;
            }
            if (literal.Length > 0) { parts.Add(new Part(Kind.Literal, literal.ToString())); literal.Clear(); }
            parts.Add(part.Value);
        }
        if (literal.Length > 0) parts.Add(new Part(Kind.Literal, literal.ToString()));
        return new KeyFormat(template, [.. parts]);
    }

    /// <summary>
    /// Expands the template with the folded key <paramref name="key"/> (4.2). Returns null
    /// when the expansion is suppressed (a skip). The result may be empty or contain
    /// whitespace; the caller applies 3.2 steps 6 and 7.
    /// </summary>
    public string? Expand(string key)
    {
        if (IsIdentity) return key;
        int at = key.LastIndexOf('@');
        string? local = at < 0 ? null : key[..at];
        string? domain = at < 0 ? null : key[(at + 1)..];

        if (_usesDomain && string.IsNullOrEmpty(domain)) return null;
        if (_usesUser && local is { Length: 0 }) return null;
        string[] labels = [];
        if (_maxLabel > 0)
        {
            labels = domain!.Split('.', StringSplitOptions.RemoveEmptyEntries);
            if (labels.Length < _maxLabel) return null;
        }

        var sb = new StringBuilder(key.Length + 16);
        foreach (var p in _parts)
        {
            sb.Append(p.Kind switch
            {
                Kind.Literal => p.Text,
                Kind.Whole => key,
                Kind.User => local ?? key,
                Kind.Domain => domain,
                _ => labels[labels.Length - p.Label],
            });
        }
        return sb.ToString();
    }
}
