using System.Buffers;
using System.Buffers.Text;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>Why <see cref="Netstring.TryRead"/> returned false.</summary>
public enum NetstringError : byte
{
    /// <summary>No error: the frame is not complete yet (everything was examined).</summary>
    None,
    /// <summary>Bad framing: a non-digit before ':', or no ',' after the payload (S18).</summary>
    Format,
    /// <summary>The announced length exceeds the limit; the payload is not read (S19).</summary>
    TooLong,
}

/// <summary>
/// Netstrings <c>&lt;length&gt;:&lt;payload&gt;,</c> (spec 2.2): pure framing over
/// <see cref="ReadOnlySequence{T}"/> and an <see cref="IBufferWriter{T}"/>; allocation free.
/// </summary>
public static class Netstring
{
    /// <summary>
    /// Takes one netstring off the front of <paramref name="buffer"/>. Any number of leading
    /// zeros is accepted (S17): only the value of the length is limited, to
    /// <paramref name="maxLength"/>; a ':' with no digits means length 0, as in Postfix's own
    /// parser. Returns false with <see cref="NetstringError.None"/> when more bytes are needed;
    /// the buffer is then unchanged except that leading zeros of the length are taken off it
    /// (they do not change the value, and "0…0:" reads as ":", length 0), so a client sending
    /// zeros makes the server neither buffer them nor scan them again on the next read.
    /// Otherwise returns false with the fatal error.
    /// </summary>
    public static bool TryRead(
        ref ReadOnlySequence<byte> buffer, int maxLength,
        out ReadOnlySequence<byte> payload, out NetstringError error)
    {
        payload = default;
        error = NetstringError.None;
        var reader = new SequenceReader<byte>(buffer);
        long zeros = reader.AdvancePast((byte)'0');
        long length = 0;
        while (true)
        {
            if (!reader.TryRead(out byte b))
            {
                buffer = buffer.Slice(zeros);
                return false;
            }
            if (b == (byte)':') break;
            if (b is < (byte)'0' or > (byte)'9')
            {
                error = NetstringError.Format;
                return false;
            }
            // Significant digits stay few: the value exceeds maxLength (an int) by the 11th.
            length = length * 10 + (b - '0');
            if (length > maxLength)
            {
                error = NetstringError.TooLong;
                return false;
            }
        }
        if (reader.Remaining < length + 1)
        {
            buffer = buffer.Slice(zeros);
            return false;
        }
        payload = reader.UnreadSequence.Slice(0, length);
        reader.Advance(length);
        reader.TryRead(out byte terminator);
        if (terminator != (byte)',')
        {
            payload = default;
            error = NetstringError.Format;
            return false;
        }
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    /// <summary>Bytes needed for the netstring of a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static int FrameLength(int payloadLength) => DigitCount(payloadLength) + payloadLength + 2;

    /// <summary>
    /// Writes the header <c>length:</c> into <paramref name="dest"/>, returns its length; the
    /// caller writes the payload after it and the ',' after that.
    /// </summary>
    public static int WriteHeader(int payloadLength, Span<byte> dest)
    {
        Utf8Formatter.TryFormat(payloadLength, dest, out int n);
        dest[n] = (byte)':';
        return n + 1;
    }

    /// <summary>Writes a whole netstring around <paramref name="payload"/>; returns the bytes written.</summary>
    public static int Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> payload)
    {
        int total = FrameLength(payload.Length);
        Span<byte> span = writer.GetSpan(total);
        int h = WriteHeader(payload.Length, span);
        payload.CopyTo(span[h..]);
        span[total - 1] = (byte)',';
        writer.Advance(total);
        return total;
    }

    private static int DigitCount(int n)
    {
        int d = 1;
        while (n >= 10) { n /= 10; d++; }
        return d;
    }
}
