using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>The Postfix tcp: client's request encoding (spec 1.3), written independently of the server's HexQuote.</summary>
public static class TcpQuote
{
    /// <summary>Octets other than printable ASCII (0x21-0x7e) and '%' become upper-case %XX.</summary>
    public static string Encode(string octets)
    {
        var sb = new StringBuilder(octets.Length);
        foreach (char c in octets)
            if (c is > ' ' and < '\x7f' and not '%') sb.Append(c);
            else sb.Append('%').Append(((int)c).ToString("X2"));
        return sb.ToString();
    }
}
