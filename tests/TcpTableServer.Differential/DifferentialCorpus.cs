using System.Text;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>
/// The seeded key corpus of the differential run: <see cref="KeyCorpus"/> (case mixes, UTF-8, '%',
/// spaces, empty localpart, no domain, '@' only, several '@', leading/trailing dots, keys in
/// and out of the domain lists) plus keys of the configurations' backups (backup-only keys:
/// hits and write-backs, in mixed case, non-ASCII letters included), control bytes, tabs,
/// non-UTF-8 bytes, keys over 250 bytes, and non-ASCII mixed-case keys whose folding differs
/// between ASCII and Unicode case folding (spec 3.3: German ß, Turkish dotted I, Greek final
/// sigma, Cherokee, ligatures, characters outside the BMP).
/// Never: empty keys or LF (`postmap -q -` is line based; the lookup layer never sends an
/// empty key, spec 1.2). Keys are octet strings (Latin-1 chars = bytes).
/// </summary>
public sealed class DifferentialCorpus(int seed, IReadOnlyList<string> backupKeys)
{
    private readonly Random _rng = new(seed);
    private readonly KeyCorpus _base = new(seed);

    private static readonly string[] Domains = ["example.com", "example.net", "bad.example.com", "sub.example.com", "other.org", "localhost"];

    /// <summary>Localpart pieces (text) for <see cref="UnicodeKey"/>; each gets a random case mix.</summary>
    private static readonly string[] UnicodePieces =
    [
        "ñandú", "jörg", "straße", "STRAẞE", "σίσυφος", "ΣΊΣΥΦΟΣ", "İstanbul", "ıi", "ᏣᎳᎩ", "ꮳꮃꭹ", "ﬃ",
        "\u212Aelvin", "ǅemal", "ΐota", "émile", "\u212Bsa", "𐐀dam", "ǰ", "ŉ", "ΰ", "ﬅ",
    ];

    public List<string> Take(int n)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<string>(n);
        while (list.Count < n)
        {
            var k = Next();
            if (k.Length > 0 && !k.Contains('\n') && seen.Add(k)) list.Add(k);
        }
        return list;
    }

    private string Next()
    {
        int r = _rng.Next(1000);
        string domain = Domains[_rng.Next(Domains.Length)];
        return r switch
        {
            < 200 when backupKeys.Count > 0 => MixCase(backupKeys[_rng.Next(backupKeys.Count)]),
            < 210 => $"ctl{(char)ControlByte()}{_rng.Next(100)}@{domain}",
            < 215 => $"tab\t{_rng.Next(100)}@{domain}",
            < 220 => $"caf\u00e9{_rng.Next(100)}@{domain}",                       // Latin-1 byte 0xE9: not UTF-8
            < 222 => $"{new string('l', 250 + _rng.Next(40))}{_rng.Next(1000)}@{domain}", // over 250 bytes
            < 230 => $"{_rng.Next(1000)}.{domain}.",
            < 300 => UnicodeKey(domain),
            < 310 => $"{MixCase(Octets.FromUtf8(UnicodePieces[_rng.Next(UnicodePieces.Length)]))}{InvalidUtf8()}{_rng.Next(100)}@{MixCase(domain)}",
            _ => _base.Next(),
        };
    }

    /// <summary>A non-ASCII mixed-case key (octets: UTF-8 bytes), e.g. ñAndÚ170@eXAmplE.CoM.</summary>
    private string UnicodeKey(string domain)
    {
        var sb = new StringBuilder();
        for (int n = 1 + _rng.Next(2); n > 0; n--) sb.Append(UnicodePieces[_rng.Next(UnicodePieces.Length)]);
        if (_rng.Next(2) == 0) sb.Append(_rng.Next(200));
        string at = _rng.Next(10) == 0 ? "exämple.com" : domain;
        return MixCase(Octets.FromUtf8($"{sb}@{at}"));
    }

    /// <summary>Bytes that are not UTF-8: Latin-1, a cut sequence, overlong, a surrogate, above U+10FFFF.</summary>
    private string InvalidUtf8() =>
        new[] { "\u00c9", "\u00c3", "\u00c0\u00af", "\u00ed\u00a0\u0080", "\u00f4\u0090\u0080\u0080", "\u00ff" }[_rng.Next(6)];

    private int ControlByte()
    {
        int[] bytes = [0x01, 0x02, 0x07, 0x08, 0x0b, 0x0c, 0x0d, 0x1b, 0x1f, 0x7f];
        return bytes[_rng.Next(bytes.Length)];
    }

    /// <summary>
    /// Upper-cases about a third of the letters of the octet string <paramref name="s"/>: ASCII
    /// ones in place and, when <paramref name="s"/> is UTF-8, non-ASCII ones too (simple case
    /// mapping of the decoded text, re-encoded), so Unicode folding has work to do.
    /// </summary>
    private string MixCase(string s)
    {
        bool utf8 = CaseFolding.IsValidUtf8(s) && !s.Contains('\0');
        string text = utf8 ? Encoding.UTF8.GetString(Octets.ToBytes(s)) : s;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            sb.Append((c < 0x80 || utf8) && !char.IsSurrogate(c) && _rng.Next(3) == 0
                ? (_rng.Next(4) == 0 ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
        return utf8 ? Octets.FromUtf8(sb.ToString()) : sb.ToString();
    }
}
