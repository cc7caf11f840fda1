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
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> data) =>
        TcpTableServer.Fuzz.Segments.OneBytePerSegment(data);
}
