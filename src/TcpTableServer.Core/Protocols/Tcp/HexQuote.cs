namespace TcpTableServer.Protocols.Tcp;

/// <summary>
/// Postfix's %XX quoting (hex_quote.c), spec 1.3: bytes 0x21-0x7E other than '%' travel
/// literally, every other byte as '%' plus two upper-case hex digits. Decoding accepts hex
/// digits in any case. Span based and allocation free.
/// </summary>
public static class HexQuote
{
    private static ReadOnlySpan<byte> UpperHex => "0123456789ABCDEF"u8;

    /// <summary>True when <paramref name="b"/> is sent as itself (0x21-0x7E except '%').</summary>
    public static bool IsLiteral(byte b) => b is >= 0x21 and <= 0x7E && b != (byte)'%';

    /// <summary>Length of the encoded form of an octet string (chars are bytes, spec 0/Octets).</summary>
    public static int EncodedLength(ReadOnlySpan<char> octets)
    {
        int n = octets.Length;
        foreach (char c in octets)
            if (!IsLiteral(ToByte(c))) n += 2;
        return n;
    }

    /// <summary>Length of the encoded form of <paramref name="bytes"/>.</summary>
    public static int EncodedLength(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        foreach (byte b in bytes)
            if (!IsLiteral(b)) n += 2;
        return n;
    }

    /// <summary>Encodes an octet string into <paramref name="dest"/>; returns the bytes written.</summary>
    public static int Encode(ReadOnlySpan<char> octets, Span<byte> dest)
    {
        int w = 0;
        foreach (char c in octets) w += EncodeByte(ToByte(c), dest[w..]);
        return w;
    }

    /// <summary>Encodes <paramref name="bytes"/> into <paramref name="dest"/>; returns the bytes written.</summary>
    public static int Encode(ReadOnlySpan<byte> bytes, Span<byte> dest)
    {
        int w = 0;
        foreach (byte b in bytes) w += EncodeByte(b, dest[w..]);
        return w;
    }

    /// <summary>
    /// Decodes <paramref name="encoded"/> into <paramref name="dest"/> (at least as long as the
    /// input). Fails (false) on a '%' not followed by two hex digits, on a raw SP or TAB (never
    /// produced by Postfix, spec 1.7) and on a decoded NUL (spec 1.7 POLICY, S06-S08).
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> encoded, Span<byte> dest, out int written)
    {
        written = 0;
        for (int i = 0; i < encoded.Length; i++)
        {
            byte b = encoded[i];
            if (b == (byte)'%')
            {
                if (i + 2 >= encoded.Length) return false;
                int hi = HexValue(encoded[i + 1]), lo = HexValue(encoded[i + 2]);
                if (hi < 0 || lo < 0) return false;
                b = (byte)(hi << 4 | lo);
                i += 2;
            }
            else if (b is (byte)' ' or (byte)'\t')
            {
                return false;
            }
            if (b == 0) return false;
            dest[written++] = b;
        }
        return true;
    }

    private static int EncodeByte(byte b, Span<byte> dest)
    {
        if (IsLiteral(b))
        {
            dest[0] = b;
            return 1;
        }
        dest[2] = UpperHex[b & 0xF];
        dest[1] = UpperHex[b >> 4];
        dest[0] = (byte)'%';
        return 3;
    }

    internal static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => -1,
    };

    // Octet strings hold bytes as chars 0-255; anything wider is not an octet and becomes '?'
    // exactly as Latin-1 encoding (Octets.ToBytes) would make it.
    private static byte ToByte(char c) => c <= 0xFF ? (byte)c : (byte)'?';
}
