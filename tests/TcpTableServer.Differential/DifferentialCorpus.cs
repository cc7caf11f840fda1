using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>
/// The seeded key corpus of issue 4: <see cref="KeyCorpus"/> (case mixes, UTF-8, '%',
/// spaces, empty localpart, no domain, '@' only, several '@', leading/trailing dots, keys in
/// and out of the domain lists) plus keys of the configurations' backups (backup-only keys:
/// hits and write-backs), control bytes, tabs, non-UTF-8 bytes and keys over 250 bytes.
/// Never: empty keys or LF (`postmap -q -` is line based; the lookup layer never sends an
/// empty key, spec 1.2). Keys are octet strings (Latin-1 chars = bytes).
/// </summary>
public sealed class DifferentialCorpus(int seed, IReadOnlyList<string> backupKeys)
{
    private readonly Random _rng = new(seed);
    private readonly KeyCorpus _base = new(seed);

    private static readonly string[] Domains = ["example.com", "example.net", "bad.example.com", "sub.example.com", "other.org", "localhost"];

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
            _ => _base.Next(),
        };
    }

    private int ControlByte()
    {
        int[] bytes = [0x01, 0x02, 0x07, 0x08, 0x0b, 0x0c, 0x0d, 0x1b, 0x1f, 0x7f];
        return bytes[_rng.Next(bytes.Length)];
    }

    private string MixCase(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in s) sb.Append(c < 0x80 && _rng.Next(3) == 0 ? char.ToUpperInvariant(c) : c);
        return sb.ToString();
    }
}
