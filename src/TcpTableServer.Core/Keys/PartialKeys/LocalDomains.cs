using System.Net;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// Whether an address's domain is local, for the bare-localpart probe of the virtual and
/// canonical searches. Postfix's mail_addr_find_opt tries "user" only when the domain equals
/// <c>myorigin</c> (case-insensitive) or resolve_local (global/resolve_local.c) says yes:
/// the domain (one trailing dot stripped) is in <c>mydestination</c>, or it is an address
/// literal [ip] of one of the machine's interfaces (<c>inet_interfaces</c>) or of
/// <c>proxy_interfaces</c>. Comparisons fold ASCII case (strcasecmp_utf8 on ASCII names).
/// </summary>
public sealed class LocalDomains(string myorigin, IReadOnlyList<DestinationPattern> mydestination,
    IReadOnlyCollection<IPAddress> interfaces)
{
    public string Myorigin { get; } = myorigin;
    public IReadOnlyList<DestinationPattern> Mydestination { get; } = mydestination;

    /// <summary>The addresses of inet_interfaces and proxy_interfaces.</summary>
    public IReadOnlyCollection<IPAddress> Interfaces { get; } = interfaces;

    public bool IsLocal(string domain)
    {
        if (Equal(domain, Myorigin)) return true;
        string d = domain;
        if (d.Length == 0) return false;
        if (d[^1] == '.') d = d[..^1];
        if (d.Length == 0 || d[^1] == '.') return false;
        // string_list_match: the first pattern that matches decides; "!name" excludes.
        foreach (var p in Mydestination)
            if (Equal(d, p.Name)) return !p.Negated;
        if (d.Length > 2 && d[0] == '[' && d[^1] == ']' && ParseLiteral(d[1..^1]) is { } ip)
            return Interfaces.Contains(ip);
        return false;
    }

    /// <summary>valid_mailhost_addr: an IPv4 address, or "IPv6:" and an IPv6 address.</summary>
    private static IPAddress? ParseLiteral(string text)
    {
        if (text.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            return HostAddress.TryParseV6(text[5..]);
        return HostAddress.TryParseV4(text);
    }

    private static bool Equal(string a, string b) =>
        string.Equals(Octets.FoldAscii(a), Octets.FoldAscii(b), StringComparison.Ordinal);
}

/// <summary>One mydestination entry: a domain name, or "!name" (not local).</summary>
public readonly record struct DestinationPattern(string Name, bool Negated)
{
    public override string ToString() => Negated ? "!" + Name : Name;
}
