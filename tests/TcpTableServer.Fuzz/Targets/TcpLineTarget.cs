using System.Buffers;
using System.Text;
using TcpTableServer.Protocols.Tcp;
using static TcpTableServer.Fuzz.FuzzViolation;
using static TcpTableServer.Fuzz.Segments;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// The tcp_table request reader (spec 1.2, 1.3, 1.7, 1.8, S01-S12): <see cref="TcpCodec.TryRead"/>
/// over a byte stream fed the way a connection reads it. Invariants: on NeedMoreData nothing is
/// taken; a request takes exactly its line and LF; the same stream cut into other reads and
/// segments gives the same requests, end state and consumed count; and all of it equals a
/// plain reference of the spec's request parsing POLICY (1.7), %XX decoding included.
/// </summary>
public sealed class TcpLineTarget : FuzzTarget
{
    public override string Name => "tcp-line";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "get user@example.com\n", "get J%c3%96RG@example.com\n", "get J%C3%96RG@example.com\n",
        "get user@example.com\nget nobody@example.com\n", "get user@example.com\r\n", "GET user@example.com\n",
        "delete user@example.com\n", "get\n", "get \n", "get a%zz\n", "get a%4\n", "get 100%\n",
        "get john smith@example.com\n", "get a%00b\n", "put k v\n", "put User@Example.com a%20b\n",
        "get 100%25@example.com\n", "get a%7Fb\n", "put k\n", "put  \n",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { "get ", "put ", "\n", "\r\n", "%", "%2", "%20", "%zz", "%00", "%C3%96", " ", "\t" }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    private sealed record Outcome(List<TcpRequest> Requests, TcpReadStatus End, long Consumed);

    public override void Run(byte[] input, Random rng)
    {
        bool allowPut = rng.Next(2) == 0;
        int maxLine = rng.Next(3) == 0 ? 2 + rng.Next(128) : TcpCodec.MaxRequestLine;
        Outcome expected = Reference(input, allowPut, maxLine);
        Same(expected, Stream([input], allowPut, maxLine, rng), "whole buffer vs spec 1.7 reference");
        Same(expected, Stream(Segments.Reads(input, rng), allowPut, maxLine, rng), "split reads vs spec 1.7 reference");
    }

    private static Outcome Stream(List<byte[]> reads, bool allowPut, int maxLine, Random rng)
    {
        var requests = new List<TcpRequest>();
        byte[] held = [];
        long consumed = 0;
        foreach (byte[] read in reads)
        {
            byte[] data = [.. held, .. read];
            var buffer = Segments.Split(data, rng);
            while (true)
            {
                var before = buffer;
                var status = TcpCodec.TryRead(ref buffer, allowPut, out var request, maxLine);
                int taken = Taken(before, buffer);
                byte[] given = before.Slice(0, taken).ToArray();
                if (status == TcpReadStatus.Request)
                {
                    Check(taken >= 1 && given[taken - 1] == (byte)'\n' && given.AsSpan(0, taken - 1).IndexOf((byte)'\n') < 0,
                        "a request did not take exactly one line and its LF");
                    Check(taken <= maxLine, $"a line of {taken} bytes over the limit {maxLine} was accepted");
                    requests.Add(request);
                    consumed += taken;
                    continue;
                }
                Check(taken == 0, $"{status} consumed bytes");
                if (status == TcpReadStatus.LineTooLong) return new Outcome(requests, status, consumed);
                held = buffer.ToArray();
                break;
            }
        }
        return new Outcome(requests, TcpReadStatus.NeedMoreData, consumed);
    }

    /// <summary>Spec 1.7 request parsing POLICY and 1.8, read literally.</summary>
    private static Outcome Reference(byte[] s, bool allowPut, int maxLine)
    {
        var requests = new List<TcpRequest>();
        int pos = 0;
        while (true)
        {
            int lf = Array.IndexOf(s, (byte)'\n', pos);
            if (lf < 0)
                return new Outcome(requests, s.Length - pos >= maxLine ? TcpReadStatus.LineTooLong : TcpReadStatus.NeedMoreData, pos);
            if (lf - pos + 1 > maxLine) return new Outcome(requests, TcpReadStatus.LineTooLong, pos);
            requests.Add(ParseLine(s[pos..lf], allowPut));
            pos = lf + 1;
        }
    }

    private static TcpRequest ParseLine(byte[] line, bool allowPut)
    {
        if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
        int sp = Array.IndexOf(line, (byte)' ');
        if (sp < 0) return TcpRequest.Bad;
        string command = Encoding.Latin1.GetString(line, 0, sp);
        byte[] argument = line[(sp + 1)..];
        if (command == "get") return Decode(argument) is { } key ? TcpRequest.Get(key) : TcpRequest.Bad;
        if (command != "put" || !allowPut) return TcpRequest.Bad;
        int sp2 = Array.IndexOf(argument, (byte)' ');
        if (sp2 < 0) return TcpRequest.Bad;
        return Decode(argument[..sp2]) is { } k && Decode(argument[(sp2 + 1)..]) is { } v ? TcpRequest.Put(k, v) : TcpRequest.Bad;
    }

    /// <summary>Spec 1.3 and 1.7: %XX in any case; raw SP/TAB, a bad escape or a NUL make a bad request.</summary>
    internal static string? Decode(ReadOnlySpan<byte> encoded)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < encoded.Length; i++)
        {
            int b = encoded[i];
            if (b is ' ' or '\t') return null;
            if (b == '%')
            {
                if (i + 2 >= encoded.Length || !IsHex(encoded[i + 1]) || !IsHex(encoded[i + 2])) return null;
                b = Convert.ToByte(Encoding.ASCII.GetString(encoded.Slice(i + 1, 2)), 16);
                i += 2;
            }
            if (b == 0) return null;
            sb.Append((char)b);
        }
        return sb.ToString();
    }

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

    private static void Same(Outcome a, Outcome b, string what)
    {
        Check(a.Requests.Count == b.Requests.Count, $"{what}: {a.Requests.Count} vs {b.Requests.Count} requests");
        for (int i = 0; i < a.Requests.Count; i++)
            Check(a.Requests[i] == b.Requests[i], $"{what}: request {i}: {a.Requests[i]} vs {b.Requests[i]}");
        Check(a.End == b.End, $"{what}: end {a.End} vs {b.End}");
        Check(a.Consumed == b.Consumed, $"{what}: consumed {a.Consumed} vs {b.Consumed}");
    }
}
