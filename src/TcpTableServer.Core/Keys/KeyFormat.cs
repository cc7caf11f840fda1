using System.Buffers;
using System.Text;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys;

/// <summary>
/// The memcache <c>key_format</c> template (spec section 4), the same expansion Postfix's
/// db_common_expand() gives SQL queries: parsed once at open, expanded per request on the
/// case-folded key. Valid sequences: <c>%%</c>, <c>%s</c>, <c>%S</c>, <c>%u</c>, <c>%U</c>,
/// <c>%d</c>, <c>%D</c>, <c>%1</c>…<c>%9</c>.
/// </summary>
public sealed class KeyFormat
{
    private enum Kind : byte { Literal, Whole, User, Domain, Label }

    /// <param name="OfKey">Upper case (%S %U %D) or a label: in a result template (<see cref="ExpandResult"/>) it names the lookup key, not the result.</param>
    private readonly record struct Part(Kind Kind, string Text = "", int Label = 0, bool OfKey = false);

    /// <summary>
    /// What a template needs of the lookup key and of a result, as Postfix's db_common_parse()
    /// flags: an SQL table's query and result template share one set, so a key the result
    /// template cannot expand with is not even queried.
    /// </summary>
    [Flags]
    public enum Needs : byte { None = 0, KeyDomain = 1, KeyUser = 2, ResultDomain = 4, ResultUser = 8 }

    private readonly Part[] _parts;
    private readonly Needs _keyNeeds;   // NeedsAs(result: false): what Expand needs of the key
    private readonly int _maxLabel;

    /// <summary>The template as configured.</summary>
    public string Template { get; }

    /// <summary>True when the template is exactly <c>%s</c>: the expansion step is bypassed (4.1).</summary>
    public bool IsIdentity { get; }

    private KeyFormat(string template, Part[] parts)
    {
        Template = template;
        IsIdentity = template == "%s";
        _parts = parts;
        _keyNeeds = NeedsAs(result: false);
        foreach (var p in parts)
            if (p.Kind == Kind.Label) _maxLabel = Math.Max(_maxLabel, p.Label);
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
                's' or 'S' => new Part(Kind.Whole, OfKey: s == 'S'),
                'u' or 'U' => new Part(Kind.User, OfKey: s == 'U'),
                'd' or 'D' => new Part(Kind.Domain, OfKey: s == 'D'),
                >= '1' and <= '9' => new Part(Kind.Label, Label: s - '0', OfKey: true),
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

    /// <summary>The highest label (%1..%9) the template uses, 0 for none.</summary>
    public int MaxLabel => _maxLabel;

    /// <summary>
    /// db_common_parse(): what the template needs as a query template (<paramref name="result"/>
    /// false: %u %U need the key's localpart, %d %D %1..%9 its domain) or as a result template
    /// (%u and %d need the result's, %U %D %1..%9 the key's).
    /// </summary>
    public Needs NeedsAs(bool result)
    {
        var needs = Needs.None;
        foreach (var p in _parts)
        {
            bool ofResult = result && !p.OfKey;
            needs |= p.Kind switch
            {
                Kind.User => ofResult ? Needs.ResultUser : Needs.KeyUser,
                Kind.Domain => ofResult ? Needs.ResultDomain : Needs.KeyDomain,
                Kind.Label => Needs.KeyDomain,
                _ => Needs.None,
            };
        }
        return needs;
    }

    /// <summary>
    /// True when <paramref name="key"/> has what <paramref name="needs"/> and
    /// <paramref name="labels"/> ask of it (db_common_expand's skip rules): a non-empty domain
    /// after its last '@' for <see cref="Needs.KeyDomain"/>, a non-empty localpart for
    /// <see cref="Needs.KeyUser"/>, at least <paramref name="labels"/> non-empty domain labels.
    /// </summary>
    public static bool KeyAllows(string key, Needs needs, int labels)
    {
        int at = key.LastIndexOf('@');
        if ((needs & Needs.KeyDomain) != 0 && (at < 0 || at == key.Length - 1)) return false;
        if ((needs & Needs.KeyUser) != 0 && at == 0) return false;
        Span<Range> found = stackalloc Range[9];
        return labels == 0 || FindLabels(key, at + 1, found[..labels]) == labels;
    }

    /// <summary>
    /// Expands this result template (Postfix's result_format) for one result
    /// <paramref name="value"/> of the lookup of <paramref name="key"/>, appending to
    /// <paramref name="into"/> after a ',' when it is not empty (db_common_expand with a key):
    /// %s %u %d are the result's, %S %U %D and %1..%9 the key's. <paramref name="needs"/> and
    /// <paramref name="labels"/> are those of the query and result templates together. Returns
    /// false, appending nothing, when the result lacks a part the template needs (a result
    /// without a domain for %d, with an empty localpart for %u). Precondition: the key has
    /// what <paramref name="needs"/> and <paramref name="labels"/> ask of it
    /// (<see cref="KeyAllows"/> true; SqlQuery.Admits checks it before the query runs).
    /// Results are not quoted. The caller skips NULL and empty results first.
    /// </summary>
    public bool ExpandResult(string value, string key, Needs needs, int labels, StringBuilder into)
    {
        int vat = (needs & (Needs.ResultDomain | Needs.ResultUser)) != 0 ? value.LastIndexOf('@') : -1;
        if ((needs & Needs.ResultDomain) != 0 && (vat < 0 || vat == value.Length - 1)) return false;
        if ((needs & Needs.ResultUser) != 0 && vat == 0) return false;
        int kat = key.LastIndexOf('@');
        Span<Range> keyLabels = stackalloc Range[9];
        if (labels > 0) FindLabels(key, kat + 1, keyLabels[..labels]);
        if (into.Length > 0) into.Append(',');
        foreach (var p in _parts)
        {
            if (p.Kind == Kind.Literal) into.Append(p.Text);
            else if (p.OfKey) into.Append(Piece(p, key, kat, keyLabels));
            else into.Append(Piece(p, value, vat, keyLabels));
        }
        return true;
    }

    /// <summary>
    /// The template's shape for static analysis (memcache's KeyOverlap): literal text as is,
    /// null for an expansion (%s, %u, %d, %1..%9), whose text depends on the key.
    /// </summary>
    public IReadOnlyList<string?> Segments() =>
        [.. _parts.Select(p => p.Kind == Kind.Literal ? p.Text : null)];

    /// <summary>
    /// Expands the template with the folded key <paramref name="key"/> (4.2). Returns null
    /// when the expansion is suppressed (a skip). The result may be empty or contain
    /// whitespace; the caller applies 3.2 steps 6 and 7. <paramref name="quote"/>, when given,
    /// quotes each substituted piece of the key (not the template's literal text).
    /// </summary>
    public string? Expand(string key, KeyQuote? quote = null)
    {
        if (IsIdentity && quote is null) return key;
        int at = key.LastIndexOf('@');
        if ((_keyNeeds & Needs.KeyDomain) != 0 && (at < 0 || at == key.Length - 1)) return null; // no or empty domain
        if ((_keyNeeds & Needs.KeyUser) != 0 && at == 0) return null;                             // empty localpart
        Span<Range> labels = stackalloc Range[9];                          // %1..%9, from the right
        if (_maxLabel > 0 && FindLabels(key, at + 1, labels[.._maxLabel]) < _maxLabel) return null;
        if (quote is not null) return ExpandQuoted(key, at, labels, quote);

        // no allocation for a hot key (the hit path): the expansion is built on the
        // stack and its string taken from the pool
        int length = 0;
        foreach (var p in _parts) length += Piece(p, key, at, labels).Length;
        if (length <= StringPool.MaxLength)
        {
            Span<char> expanded = stackalloc char[StringPool.MaxLength];
            expanded = expanded[..length];
            Fill(expanded, key, at, labels);
            return StringPool.Get(expanded);
        }
        char[] large = ArrayPool<char>.Shared.Rent(length);
        try
        {
            Fill(large.AsSpan(0, length), key, at, labels);
            return new string(large, 0, length);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(large);
        }
    }

    /// <summary>The expansion with each substituted piece passed through <paramref name="quote"/>.</summary>
    private string ExpandQuoted(string key, int at, ReadOnlySpan<Range> labels, KeyQuote quote)
    {
        var into = new StringBuilder(key.Length + Template.Length);
        foreach (var p in _parts)
        {
            if (p.Kind == Kind.Literal) into.Append(p.Text);
            else quote(Piece(p, key, at, labels), into);
        }
        return into.ToString();
    }

    /// <summary>
    /// The last <c>labels.Length</c> non-empty labels of the domain <c>key[from..]</c>, the
    /// rightmost first (4.2: split at '.', empty labels dropped); returns how many there are.
    /// </summary>
    private static int FindLabels(string key, int from, Span<Range> labels)
    {
        int found = 0, end = key.Length;
        for (int i = key.Length - 1; i >= from - 1 && found < labels.Length; i--)
        {
            if (i >= from && key[i] != '.') continue;
            if (end - (i + 1) > 0) labels[found++] = new Range(i + 1, end);
            end = i;
        }
        return found;
    }

    private void Fill(Span<char> into, string key, int at, ReadOnlySpan<Range> labels)
    {
        foreach (var p in _parts)
        {
            var piece = Piece(p, key, at, labels);
            piece.CopyTo(into);
            into = into[piece.Length..];
        }
    }

    /// <summary>One part's text: literal, whole key, localpart (whole key without '@'), domain, label.</summary>
    private static ReadOnlySpan<char> Piece(Part p, string key, int at, ReadOnlySpan<Range> labels) => p.Kind switch
    {
        Kind.Literal => p.Text,
        Kind.Whole => key,
        Kind.User => at < 0 ? key : key.AsSpan(0, at),
        Kind.Domain => key.AsSpan(at + 1),
        _ => key.AsSpan(labels[p.Label - 1]),
    };
}
