using System.Buffers;
using System.Text;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;
using static TcpTableServer.Fuzz.FuzzViolation;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// %XX quoting (spec 1.3, 1.7, S01, S06-S09): for any bytes, the encoding is exactly
/// Postfix's request rule (0x21-0x7E except '%' literal, all else upper-case %XX), its length
/// is <see cref="HexQuote.EncodedLength(ReadOnlySpan{byte})"/>, the char and byte overloads
/// agree, and decode(encode(x)) == x (lower-case hex too) unless x holds a NUL, which must be
/// refused. Any input decoded directly gives what the spec 1.7 reference gives, in a
/// destination exactly as long as the input. The tcp found reply is one line within 4096 bytes.
/// </summary>
public sealed class HexQuoteTarget : FuzzTarget
{
    public override string Name => "hexquote";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "100%25@example.com", "john%20smith", "J%C3%96RG", "a%7Fb", "J%c3%96RG@example.com", "a%zz", "a%4",
        "100%", "a%00b", "john smith@example.com", "J\xc3\x96RG", "a\x7f" + "b", "\t\r\n\v\f", "%%%", "",
        "user@example.com", "%2", "%g0", "\xff\x80\x00",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { "%", "%0", "%00", "%2f", "%2F", "%FF", "%ff", "%zz", " ", "\t", "\0" }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override void Run(byte[] input, Random rng)
    {
        RoundTrip(input);
        DecodeAnything(input);
        if (rng.Next(8) == 0) WideChars(input);
        FoundReply(input);
    }

    private static void RoundTrip(byte[] x)
    {
        int length = HexQuote.EncodedLength(x);
        var encoded = new byte[length];
        Check(HexQuote.Encode(x, encoded) == length, "Encode wrote other than EncodedLength bytes");
        Check(encoded.AsSpan().SequenceEqual(Reference(x)), "encoding differs from Postfix's rule (spec 1.3)");

        string octets = Encoding.Latin1.GetString(x);
        Check(HexQuote.EncodedLength(octets) == length, "char and byte EncodedLength differ");
        var fromChars = new byte[length];
        Check(HexQuote.Encode(octets, fromChars) == length && fromChars.AsSpan().SequenceEqual(encoded), "char and byte Encode differ");

        bool hasNul = x.AsSpan().IndexOf((byte)0) >= 0;
        var decoded = new byte[length];
        bool ok = HexQuote.TryDecode(encoded, decoded, out int written);
        Check(ok == !hasNul, hasNul ? "an encoded NUL was decoded (S08)" : "decode(encode(x)) failed");
        if (ok) Check(decoded.AsSpan(0, written).SequenceEqual(x), "decode(encode(x)) != x");

        byte[] lower = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(encoded).ToLowerInvariant());
        var decodedLower = new byte[length];
        bool okLower = HexQuote.TryDecode(lower, decodedLower, out int writtenLower);
        Check(okLower == ok && (!ok || decodedLower.AsSpan(0, writtenLower).SequenceEqual(
            // Lower-casing the encoding lowers the literal letters too, never an escaped byte.
            LowerLiterals(x))), "lower-case hex digits decode differently (S01)");
    }

    private static byte[] LowerLiterals(byte[] x) =>
        x.Select(b => HexQuote.IsLiteral(b) && b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b).ToArray();

    private static void DecodeAnything(byte[] input)
    {
        var dest = new byte[input.Length];
        bool ok = HexQuote.TryDecode(input, dest, out int written);
        string? expected = TcpLineTarget.Decode(input);
        Check(ok == expected is not null, $"TryDecode says {ok}, spec 1.7 reference says {expected is not null}");
        if (!ok) return;
        Check(written <= input.Length, "decoded longer than its encoding");
        Check(Encoding.Latin1.GetString(dest, 0, written) == expected, "decoded bytes differ from the spec 1.3 reference");
    }

    /// <summary>
    /// Octet strings hold chars 0-255; HexQuote encodes a wider char as '?' (values are octet
    /// strings, so this only keeps a stray wide char from overrunning the reply buffer).
    /// </summary>
    private static void WideChars(byte[] input)
    {
        var chars = new char[input.Length / 2];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)(input[2 * i] | input[2 * i + 1] << 8);
        byte[] asBytes = chars.Select(c => c <= 0xFF ? (byte)c : (byte)'?').ToArray();
        int length = HexQuote.EncodedLength(chars);
        Check(length == HexQuote.EncodedLength(asBytes), "wide chars: EncodedLength differs from that of their bytes");
        var a = new byte[length];
        var b = new byte[length];
        Check(HexQuote.Encode(chars, a) == length, "wide chars: Encode wrote other than EncodedLength bytes");
        HexQuote.Encode(asBytes, b);
        Check(a.AsSpan().SequenceEqual(b), "wide chars are not encoded as '?'");
    }

    /// <summary>Spec 1.4, 1.7, S09: "200 " + encoding + LF within 4096 bytes, else 400 reply-too-long.</summary>
    private static void FoundReply(byte[] x)
    {
        string value = Encoding.Latin1.GetString(x);
        var writer = new ArrayBufferWriter<byte>();
        int n = TcpReplies.WriteFound(writer, value);
        var line = writer.WrittenSpan;
        Check(n == line.Length && line.Length <= TcpReplies.MaxReplyLine, "reply longer than 4096 bytes");
        Check(line.IndexOf((byte)'\n') == line.Length - 1, "reply is not exactly one line");
        int nul = Array.IndexOf(x, (byte)0);
        byte[] cut = nul < 0 ? x : x[..nul];
        byte[] encoded = Reference(cut);
        byte[] expected = encoded.Length + 5 <= TcpReplies.MaxReplyLine
            ? [.. "200 "u8, .. encoded, (byte)'\n']
            : [.. "400 reply-too-long\n"u8];
        Check(line.SequenceEqual(expected), "found reply is not 200 + hexquote(value cut at NUL), or 400 reply-too-long");
    }

    private static byte[] Reference(ReadOnlySpan<byte> x)
    {
        var sb = new StringBuilder();
        foreach (byte b in x)
            sb.Append(b is >= 0x21 and <= 0x7E && b != (byte)'%' ? ((char)b).ToString() : $"%{b:X2}");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
