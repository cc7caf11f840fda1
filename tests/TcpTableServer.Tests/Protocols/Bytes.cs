using System.Buffers;
using System.Text;

namespace TcpTableServer.Tests.Protocols;

/// <summary>Byte helpers for codec tests: Latin-1 strings (char = byte) and segmented sequences.</summary>
internal static class Bytes
{
    public static byte[] Of(string latin1) => Encoding.Latin1.GetBytes(latin1);

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    public static string Text(in ReadOnlySequence<byte> bytes) => Encoding.Latin1.GetString(bytes.ToArray());

    /// <summary>A sequence whose every byte is its own segment (worst case for parsers).</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(data[..1].ToArray(), 0);
        Segment last = first;
        for (int i = 1; i < data.Length; i++) last = last.Append(data.Slice(i, 1).ToArray());
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
