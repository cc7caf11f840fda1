using System.Buffers;
using System.Text;
using TcpTableServer.Protocols.Socketmap;
using static TcpTableServer.Fuzz.FuzzViolation;
using static TcpTableServer.Fuzz.Segments;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// The socketmap request reader (spec 2.2, 2.3, 2.6, S15-S23): <see cref="Netstring.TryRead"/>
/// over a byte stream fed the way a connection reads it, then <see cref="SocketmapRequest"/>
/// and the reply writer. Invariants: the reader only takes bytes off the front of what it was
/// given (only zeros when it needs more, S17); every frame is the exact bytes of
/// <c>digits ':' payload ','</c>; the same stream cut into other reads and segments gives the
/// same requests, error and consumed count; all of it equals a plain reference reader of
/// spec 2.2; name/key split at the first space; a found reply is one netstring within 100000.
/// </summary>
public sealed class NetstringTarget : FuzzTarget
{
    public override string Name => "netstring";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "24:aliases user@example.com,", "0024:aliases user@example.com,", "24:unknown user@example.com,",
        "7:aliases,", "0:,", ":,", "31:aliases john smith@example.com ,", "11:aliases a\nb,",
        "24:aliases user@example.com,22:plain user@example.com,", "8:plain b1,", "2000000:",
        " 24:aliases user@example.com,", "24:aliases user@example.com;", "000000000000000000005:hello,",
        "24:aliases J\xc3\x96RG@example.com,", "1048576:",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { ":", ",", "0", "00000000000000000000", "aliases ", " ", "24:", "0:,", "\r\n", "\0" }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    private sealed record Outcome(List<byte[]> Payloads, NetstringError Error, long Consumed);

    public override void Run(byte[] input, Random rng)
    {
        int max = rng.Next(4) switch { 0 => 1 + rng.Next(64), 1 => 100_000, _ => SocketmapConnectionHandler.MaxRequestPayload };
        Outcome expected = Reference(input, max);
        Outcome whole = Stream([input], max, rng);
        Outcome split = Stream(Segments.Reads(input, rng), max, rng);
        Same(expected, whole, "whole buffer vs spec 2.2 reference");
        Same(expected, split, "split reads vs whole buffer");
        foreach (byte[] payload in whole.Payloads) CheckRequest(payload);
        CheckReply(input, rng);
    }

    /// <summary>A connection's read loop: held bytes plus each read, as random segments; stops at a fatal error.</summary>
    private static Outcome Stream(List<byte[]> reads, int max, Random rng)
    {
        var payloads = new List<byte[]>();
        byte[] held = [];
        long consumed = 0;
        foreach (byte[] read in reads)
        {
            byte[] data = [.. held, .. read];
            var buffer = Segments.Split(data, rng);
            while (true)
            {
                var before = buffer;
                bool ok = Netstring.TryRead(ref buffer, max, out var payload, out var error);
                int taken = Taken(before, buffer);
                byte[] given = before.Slice(0, taken).ToArray();
                if (ok)
                {
                    CheckFrame(given, payload, max);
                    payloads.Add(payload.ToArray());
                    consumed += taken;
                    continue;
                }
                Check(payload.IsEmpty, "a payload came with a false result");
                if (error != NetstringError.None)
                {
                    Check(taken == 0, "a failed read consumed bytes");
                    return new Outcome(payloads, error, consumed);
                }
                Check(given.IndexOfAnyExcept((byte)'0') < 0, "bytes other than leading zeros were taken without a frame");
                consumed += taken;
                held = buffer.ToArray();
                break;
            }
        }
        return new Outcome(payloads, NetstringError.None, consumed);
    }

    /// <summary><paramref name="frame"/> must be digits, ':', the payload, ',' with the digits' value = payload length.</summary>
    private static void CheckFrame(ReadOnlySpan<byte> frame, in ReadOnlySequence<byte> payload, int max)
    {
        Check(payload.Length <= max, $"payload of {payload.Length} bytes over the limit {max}");
        int colon = frame.IndexOf((byte)':');
        Check(colon >= 0 && frame.Length == colon + 1 + payload.Length + 1, "frame length is not header + payload + ','");
        Check(frame[^1] == (byte)',', "frame does not end with ','");
        Check(frame[..colon].IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0, "non-digit in the length");
        long value = 0;
        foreach (byte d in frame[..colon]) value = Math.Min(value * 10 + (d - '0'), long.MaxValue / 20);
        Check(value == payload.Length, $"length field {value} but payload of {payload.Length} bytes");
        Check(frame.Slice(colon + 1, (int)payload.Length).SequenceEqual(payload.ToArray()), "payload is not the framed bytes");
    }

    /// <summary>Spec 2.2 read literally, on one contiguous buffer.</summary>
    private static Outcome Reference(byte[] s, int max)
    {
        var payloads = new List<byte[]>();
        int pos = 0;
        while (true)
        {
            int i = pos;
            long value = 0;
            while (i < s.Length && s[i] is >= (byte)'0' and <= (byte)'9')
            {
                value = value * 10 + (s[i++] - '0');
                if (value > max) return new Outcome(payloads, NetstringError.TooLong, pos);
            }
            int zeros = 0;
            while (pos + zeros < i && s[pos + zeros] == (byte)'0') zeros++;
            if (i == s.Length) return new Outcome(payloads, NetstringError.None, pos + zeros);
            if (s[i] != (byte)':') return new Outcome(payloads, NetstringError.Format, pos);
            i++;
            if (s.Length - i < value + 1) return new Outcome(payloads, NetstringError.None, pos + zeros);
            if (s[i + (int)value] != (byte)',') return new Outcome(payloads, NetstringError.Format, pos);
            payloads.Add(s[i..(i + (int)value)]);
            pos = i + (int)value + 1;
        }
    }

    private static void Same(Outcome a, Outcome b, string what)
    {
        Check(a.Payloads.Count == b.Payloads.Count, $"{what}: {a.Payloads.Count} vs {b.Payloads.Count} requests");
        for (int i = 0; i < a.Payloads.Count; i++)
            Check(a.Payloads[i].AsSpan().SequenceEqual(b.Payloads[i]), $"{what}: request {i} differs");
        Check(a.Error == b.Error, $"{what}: error {a.Error} vs {b.Error}");
        // After a fatal error the connection closes: what was consumed before it does not matter.
        if (a.Error == NetstringError.None)
            Check(a.Consumed == b.Consumed, $"{what}: consumed {a.Consumed} vs {b.Consumed}");
    }

    /// <summary>S15, S16, S22, S23: name = bytes before the first space, key = everything after it.</summary>
    private static void CheckRequest(byte[] payload)
    {
        bool ok = SocketmapRequest.TryParse(payload, out var request);
        int sp = Array.IndexOf(payload, (byte)' ');
        Check(ok == sp >= 0, "request without a space accepted, or with one refused");
        if (!ok) return;
        Check(request.MapName.SequenceEqual(payload.AsSpan(0, sp)), "map name is not the bytes before the first space");
        Check(request.Key.SequenceEqual(payload.AsSpan(sp + 1)), "key is not the bytes after the first space");
        Check(request.KeyOctets == Encoding.Latin1.GetString(payload, sp + 1, payload.Length - sp - 1), "key octets differ from the key bytes");
    }

    /// <summary>Spec 2.4, 2.6, V11, V12, S21: one netstring, "OK " + value cut at NUL, or TEMP reply-too-long over 100000.</summary>
    private static void CheckReply(byte[] input, Random rng)
    {
        string value = Encoding.Latin1.GetString(input);
        if (rng.Next(64) == 0) value = value.PadRight(SocketmapReplies.MaxReplyPayload - 5 + rng.Next(5), 'x');
        var writer = new ArrayBufferWriter<byte>();
        int n = SocketmapReplies.WriteFound(writer, value);
        Check(n == writer.WrittenCount, "reply length returned differs from bytes written");
        var buffer = new ReadOnlySequence<byte>(writer.WrittenMemory);
        Check(Netstring.TryRead(ref buffer, SocketmapReplies.MaxReplyPayload, out var payload, out _), "reply is not one netstring within the client's limit");
        Check(buffer.IsEmpty, "bytes after the reply netstring (S24)");
        int nul = value.IndexOf('\0');
        string cut = nul < 0 ? value : value[..nul];
        string expected = cut.Length + 3 > SocketmapReplies.MaxReplyPayload ? "TEMP reply-too-long" : "OK " + cut;
        Check(Encoding.Latin1.GetString(payload.ToArray()) == expected, "reply payload is not OK + value cut at NUL");
    }
}
