using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;

namespace TcpTableServer.Benchmarks;

/// <summary>
/// Per-request codec work (issue 5): parse one request off a buffer and encode one reply,
/// for tcp_table (spec 1.2-1.8) and socketmap (spec 2.2-2.5). Allocated bytes per
/// operation are the allocations per request of that step.
/// </summary>
[MemoryDiagnoser, ShortRunJob]
public class CodecBenchmarks
{
    private readonly ArrayBufferWriter<byte> _writer = new(8192);
    private ReadOnlySequence<byte> _tcpGet, _tcpQuoted, _socketmap;
    private string _value = "";

    [GlobalSetup]
    public void Setup()
    {
        _tcpGet = new(Encoding.ASCII.GetBytes("get user1234@example.com\n"));
        _tcpQuoted = new(Encoding.ASCII.GetBytes("get us%25er%20name@example.com\n"));
        _socketmap = new(Encoding.ASCII.GetBytes("29:aliases user1234@example.com,"));
        _value = "alice@example.org, bob@example.org";
    }

    [Benchmark(Description = "tcp: parse 'get KEY\\n'")]
    public int TcpParse()
    {
        var buffer = _tcpGet;
        TcpCodec.TryRead(ref buffer, allowPut: false, out var request);
        return request.Key.Length;
    }

    [Benchmark(Description = "tcp: parse 'get KEY\\n' with %XX")]
    public int TcpParseQuoted()
    {
        var buffer = _tcpQuoted;
        TcpCodec.TryRead(ref buffer, allowPut: false, out var request);
        return request.Key.Length;
    }

    [Benchmark(Description = "tcp: encode '200 VALUE\\n'")]
    public int TcpReply()
    {
        _writer.ResetWrittenCount();
        return TcpReplies.WriteFound(_writer, _value);
    }

    [Benchmark(Description = "socketmap: parse netstring + 'MAP KEY' (key as string)")]
    public int SocketmapParse()
    {
        var buffer = _socketmap;
        Netstring.TryRead(ref buffer, 100_000, out var payload, out _);
        SocketmapRequest.TryParse(payload.FirstSpan, out var request);
        return request.KeyOctets.Length;
    }

    [Benchmark(Description = "socketmap: encode 'OK VALUE' netstring")]
    public int SocketmapReply()
    {
        _writer.ResetWrittenCount();
        return SocketmapReplies.WriteFound(_writer, _value);
    }
}
