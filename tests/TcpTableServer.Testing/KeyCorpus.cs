using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// A seeded generator of Postfix lookup keys for differential runs: mixed case, '%',
/// spaces, UTF-8, empty localpart, no domain, '@' only, several '@', leading/trailing dots,
/// keys inside and outside a domain list, backup hits and misses. Keys are octet strings
/// (Latin-1 chars = bytes). Excluded here: keys that make Postfix 3.7 and 3.12 differ or
/// make `postmap -q -` stop (control characters, keys over 250 bytes, tabs, empty keys).
/// </summary>
public sealed class KeyCorpus(int seed)
{
    private readonly Random _rng = new(seed);

    public static readonly string[] Domains =
        ["example.com", "Example.COM", "example.net", "bad.example.com", "sub.example.com", "other.org", "localhost", "mail.example.com", "example..com."];

    private static readonly string[] Locals =
        ["user", "User", "USER", "alice", "Bob", "info", "post.master", "x", "100%", "a+b", "john smith", "j\u00c3\u0096rg", "caf\u00c3\u00a9", ".dot", "dot.", "a@b"];

    public string Next()
    {
        int kind = _rng.Next(100);
        string local = Pick(Locals) + (_rng.Next(3) == 0 ? _rng.Next(50).ToString() : "");
        string domain = Pick(Domains);
        return kind switch
        {
            < 55 => $"{MixCase(local)}@{domain}",
            < 62 => $"@{domain}",
            < 70 => MixCase(local),
            < 73 => "@",
            < 78 => $"{local}@",
            < 84 => $"{local}@sub@{domain}",
            < 90 => $"{MixCase(local)}%{_rng.Next(10)}@{domain}",
            _ => $"{local}-{_rng.Next(1000)}@{domain}",
        };
    }

    public List<string> Take(int n)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        var list = new List<string>();
        while (list.Count < n)
        {
            var k = Next();
            if (set.Add(k)) list.Add(k);
        }
        return list;
    }

    private string Pick(string[] a) => a[_rng.Next(a.Length)];

    private string MixCase(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (var c in s) sb.Append(c < 0x80 && _rng.Next(4) == 0 ? char.ToUpperInvariant(c) : c);
        return sb.ToString();
    }
}
