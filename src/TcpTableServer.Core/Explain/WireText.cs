using System.Buffers;
using System.Text;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;

namespace TcpTableServer.Explain;

/// <summary>
/// The bytes a lookup has on the wire, made by the same codecs as the server's, and their
/// printable form: the socketmap request netstring and the tcp <c>get</c> line (the key
/// %XX-encoded as Postfix's tcp client sends it), and the replies on both protocols.
/// </summary>
public static class WireText
{
    /// <summary>The socketmap request Postfix sends: the netstring of <c>NAME SP key</c>.</summary>
    public static byte[] SocketmapRequest(string map, string key)
    {
        var w = new ArrayBufferWriter<byte>();
        Netstring.Write(w, Octets.ToBytes(map + " " + key));
        return w.WrittenSpan.ToArray();
    }

    /// <summary>The tcp_table request Postfix sends: <c>get SP hexquote(key) LF</c>.</summary>
    public static byte[] TcpRequest(string key)
    {
        var line = new byte[4 + HexQuote.EncodedLength(key.AsSpan()) + 1];
        "get "u8.CopyTo(line);
        HexQuote.Encode(key.AsSpan(), line.AsSpan(4));
        line[^1] = (byte)'\n';
        return line;
    }

    /// <summary>The socketmap reply to <paramref name="result"/> (spec 3.12).</summary>
    public static byte[] SocketmapReply(in LookupResult result)
    {
        var w = new ArrayBufferWriter<byte>();
        SocketmapReplies.WriteLookup(w, result);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>The tcp_table reply to <paramref name="result"/> (spec 3.12).</summary>
    public static byte[] TcpReply(in LookupResult result)
    {
        var w = new ArrayBufferWriter<byte>();
        TcpReplies.WriteLookup(w, result);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>Bytes as printable ASCII: <c>\r</c>, <c>\n</c>, <c>\\</c>, and <c>\xHH</c> for any other byte outside 0x20-0x7E.</summary>
    public static string Escape(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes)
        {
            switch (b)
            {
                case (byte)'\r': sb.Append("\\r"); break;
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                case >= 0x20 and <= 0x7E: sb.Append((char)b); break;
                default: sb.Append("\\x").Append(b.ToString("X2")); break;
            }
        }
        return sb.ToString();
    }

    /// <summary>An octet string escaped as <see cref="Escape(ReadOnlySpan{byte})"/>.</summary>
    public static string Escape(string octets) => Escape(Octets.ToBytes(octets));

    /// <summary>
    /// An octet string for a reader: quoted text when it is valid UTF-8 (controls and quotes
    /// escaped), followed by its escaped bytes when these differ from the text.
    /// </summary>
    public static string Show(string? octets)
    {
        if (octets is null) return "(none)";
        string escaped = Escape(octets);
        if (!CaseFolding.IsValidUtf8(octets) || octets.Contains('\0')) return "\"" + escaped + "\" (not valid UTF-8)";
        string text = Octets.ToDisplay(octets);
        var sb = new StringBuilder(text.Length + 2).Append('"');
        foreach (char c in text)
            sb.Append(c switch { '"' => "\\\"", '\\' => "\\\\", < ' ' or '\x7f' => $"\\x{(int)c:X2}", _ => c.ToString() });
        sb.Append('"');
        if (!Ascii.IsValid(octets)) sb.Append(" (bytes: ").Append(escaped).Append(')');
        return sb.ToString();
    }
}
