using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;

namespace TcpTableServer.Benchmarks;

/// <summary>
/// Per-request codec work: parse one request off a buffer and encode one reply,
/// for tcp_table (spec 1.2-1.8) and socketmap (spec 2.2-2.5). Allocated bytes per
/// operation are the allocations per request of that step.
/// </summary>
[MemoryDiagnoser, ShortRunJob]
public class CodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _writer = new(8192);
    private ReadOnlySequence<byte> _tcpGet, _tcpQuoted, _socketmap;
    private string _value = "";
    private ReadOnlySequence<byte>[] _coldGets = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _tcpGet = new(Encoding.ASCII.GetBytes("get user1234@example.com\n"));
        _tcpQuoted = new(Encoding.ASCII.GetBytes("get us%25er%20name@example.com\n"));
        const string payload = "aliases user1234@example.com";
        _socketmap = new(Encoding.ASCII.GetBytes($"{payload.Length}:{payload},"));
        _value = "alice@example.org, bob@example.org";
        // more distinct keys than the string pool remembers: every request is a first sighting
        _coldGets = Enumerable.Range(0, 1 << 20)
            .Select(i => new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes($"get user{i}@example.com\n"))).ToArray();
    }

    /// <summary>tcp: parse "get KEY\n" of a hot key (its string comes from the string pool).</summary>
    [Benchmark]
    public int TcpParseGet()
    {
        var buffer = _tcpGet;
        TcpCodec.TryRead(ref buffer, allowPut: false, out var request);
        return request.Key.Length;
    }

    /// <summary>tcp: parse "get KEY\n", a key seen once (the key string is allocated, and not kept).</summary>
    [Benchmark]
    public int TcpParseGetColdKey()
    {
        var buffer = _coldGets[_next++ & (_coldGets.Length - 1)];
        TcpCodec.TryRead(ref buffer, allowPut: false, out var request);
        return request.Key.Length;
    }

    /// <summary>tcp: parse "get KEY\n" with %XX escapes in the key.</summary>
    [Benchmark]
    public int TcpParseGetHexQuoted()
    {
        var buffer = _tcpQuoted;
        TcpCodec.TryRead(ref buffer, allowPut: false, out var request);
        return request.Key.Length;
    }

    /// <summary>tcp: encode "200 VALUE\n" into a reused buffer.</summary>
    [Benchmark]
    public int TcpEncodeFound()
    {
        _writer.ResetWrittenCount();
        return TcpReplies.WriteFound(_writer, _value);
    }

    /// <summary>socketmap: parse the netstring and "MAP KEY", the key as a string.</summary>
    [Benchmark]
    public int SocketmapParse()
    {
        var buffer = _socketmap;
        if (!Netstring.TryRead(ref buffer, 100_000, out var payload, out _)
            || !SocketmapRequest.TryParse(payload.FirstSpan, out var request))
            throw new InvalidOperationException("bad benchmark input");
        return request.KeyOctets.Length;
    }

    /// <summary>socketmap: encode the "OK VALUE" netstring into a reused buffer.</summary>
    [Benchmark]
    public int SocketmapEncodeOk()
    {
        _writer.ResetWrittenCount();
        return SocketmapReplies.WriteFound(_writer, _value);
    }
}
