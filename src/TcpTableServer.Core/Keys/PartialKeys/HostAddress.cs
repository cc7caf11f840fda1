using System.Net;
using System.Net.Sockets;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// Postfix's valid_hostaddr syntax checks (util/valid_hostname.c): which keys are IP
/// addresses. IPAddress.Parse alone is too lenient ("1" or "0x7f.1" parse as IPv4).
/// </summary>
public static class HostAddress
{
    /// <summary>Four decimal octets 0-255 separated by dots (valid_ipv4_hostaddr).</summary>
    public static IPAddress? TryParseV4(string text)
    {
        int parts = 0, value = -1;
        foreach (char c in text)
        {
            if (c == '.')
            {
                if (value < 0 || ++parts > 3) return null;
                value = -1;
            }
            else if (char.IsAsciiDigit(c))
            {
                value = value < 0 ? c - '0' : value * 10 + (c - '0');
                if (value > 255) return null;
            }
            else return null;
        }
        if (value < 0 || parts != 3) return null;
        return IPAddress.TryParse(text, out var ip) ? ip : null;
    }

    /// <summary>An IPv6 address in text form, without zone or brackets (valid_ipv6_hostaddr).</summary>
    public static IPAddress? TryParseV6(string text)
    {
        if (text.IndexOf(':') < 0) return null;
        foreach (char c in text)
            if (!(char.IsAsciiHexDigit(c) || c is ':' or '.')) return null;
        return IPAddress.TryParse(text, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6 ? ip : null;
    }

    /// <summary>An IPv4 or IPv6 address (valid_hostaddr).</summary>
    public static bool IsAddress(string text) => TryParseV4(text) is not null || TryParseV6(text) is not null;
}
