using System.Buffers;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Tcp;

/// <summary>
/// Pure request parser of the tcp_table protocol (spec 1.2, 1.3, 1.7, 1.8): bytes in,
/// <see cref="TcpRequest"/> out; no sockets, no tables.
/// </summary>
public static class TcpCodec
{
    /// <summary>Longest request line the server buffers, LF included (POLICY 64 KiB, spec 1.7).</summary>
    public const int MaxRequestLine = 64 * 1024;

    private const int StackDecodeLimit = 512;

    /// <summary>
    /// Takes one LF-terminated request line off the front of <paramref name="buffer"/>.
    /// On <see cref="TcpReadStatus.NeedMoreData"/> the buffer is unchanged (all of it examined).
    /// </summary>
    public static TcpReadStatus TryRead(
        ref ReadOnlySequence<byte> buffer, bool allowPut, out TcpRequest request, int maxLine = MaxRequestLine)
    {
        request = TcpRequest.Bad;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            return buffer.Length >= maxLine ? TcpReadStatus.LineTooLong : TcpReadStatus.NeedMoreData;
        if (line.Length + 1 > maxLine) return TcpReadStatus.LineTooLong;

        request = line.IsSingleSegment ? ParseLine(line.FirstSpan, allowPut) : ParseCopied(line, allowPut);
        buffer = buffer.Slice(reader.Position);
        return TcpReadStatus.Request;
    }

    /// <summary>Parses one request line without its LF (a single trailing CR is stripped).</summary>
    public static TcpRequest ParseLine(ReadOnlySpan<byte> line, bool allowPut)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        int sp = line.IndexOf((byte)' ');
        if (sp < 0) return TcpRequest.Bad;
        ReadOnlySpan<byte> command = line[..sp], argument = line[(sp + 1)..];

        if (command.SequenceEqual("get"u8))
            return TryDecode(argument, out string key) ? TcpRequest.Get(key) : TcpRequest.Bad;

        if (allowPut && command.SequenceEqual("put"u8))
        {
            int sp2 = argument.IndexOf((byte)' ');
            if (sp2 < 0) return TcpRequest.Bad;
            return TryDecode(argument[..sp2], out string key) && TryDecode(argument[(sp2 + 1)..], out string value)
                ? TcpRequest.Put(key, value)
                : TcpRequest.Bad;
        }
        return TcpRequest.Bad;
    }

    private static TcpRequest ParseCopied(in ReadOnlySequence<byte> line, bool allowPut)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)line.Length);
        try
        {
            line.CopyTo(rented);
            return ParseLine(rented.AsSpan(0, (int)line.Length), allowPut);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>%XX-decodes one request argument into an octet string (spec 1.3).</summary>
    private static bool TryDecode(ReadOnlySpan<byte> encoded, out string octets)
    {
        octets = "";
        if (encoded.IsEmpty) return true;
        byte[]? rented = null;
        Span<byte> dest = encoded.Length <= StackDecodeLimit
            ? stackalloc byte[StackDecodeLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(encoded.Length));
        try
        {
            if (!HexQuote.TryDecode(encoded, dest, out int written)) return false;
            octets = StringPool.FromBytes(dest[..written]);
            return true;
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
