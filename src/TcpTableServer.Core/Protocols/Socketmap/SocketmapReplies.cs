using System.Buffers;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>
/// Canonical socketmap replies (spec 2.6 POLICY table, 3.12), each one netstring with no
/// trailing bytes (S24).
/// </summary>
public static class SocketmapReplies
{
    /// <summary>Largest reply payload the Postfix client accepts (spec 2.4; S21).</summary>
    public const int MaxReplyPayload = 100_000;

    public static ReadOnlySpan<byte> NotFound => "9:NOTFOUND ,"u8;
    public static ReadOnlySpan<byte> TemporaryFailure => "22:TEMP temporary-failure,"u8;
    public static ReadOnlySpan<byte> ConfigurationError => "24:PERM configuration-error,"u8;
    public static ReadOnlySpan<byte> UnknownMap => "16:PERM unknown-map,"u8;
    public static ReadOnlySpan<byte> BadRequest => "16:PERM bad-request,"u8;
    public static ReadOnlySpan<byte> ReplyTooLong => "19:TEMP reply-too-long,"u8;

    /// <summary>
    /// A lookup cut off by its map's <c>deadline</c>: spec 2.6 allows <c>TIMEOUT</c> instead of
    /// <c>TEMP</c> for a memcached/backup timeout, and Postfix treats both as a temporary error.
    /// </summary>
    public static ReadOnlySpan<byte> DeadlineTimeout => "16:TIMEOUT deadline,"u8;

    /// <summary>
    /// Writes the reply to a lookup (spec 3.12); returns the bytes written. A temporary error
    /// given because the map's deadline passed is <c>TIMEOUT deadline</c> (spec 2.6), any other
    /// <c>TEMP temporary-failure</c>.
    /// </summary>
    public static int WriteLookup(IBufferWriter<byte> writer, in LookupResult result) => result.Status switch
    {
        LookupStatus.Found => WriteFound(writer, result.Value),
        LookupStatus.NotFound => Write(writer, NotFound),
        LookupStatus.ConfigError => Write(writer, ConfigurationError),
        _ when result.Tier == AnswerTier.Deadline => Write(writer, DeadlineTimeout),
        _ => Write(writer, TemporaryFailure),
    };

    /// <summary>
    /// <c>OK SP value</c>, always with the space (also for an empty value, V11), the value cut
    /// at its first NUL (V12); <c>TEMP reply-too-long</c> above 100000 payload bytes (S21).
    /// </summary>
    public static int WriteFound(IBufferWriter<byte> writer, string? value)
    {
        ReadOnlySpan<char> octets = value;
        int nul = octets.IndexOf('\0');
        if (nul >= 0) octets = octets[..nul];
        int payload = octets.Length + 3;
        if (payload > MaxReplyPayload) return Write(writer, ReplyTooLong);

        int total = Netstring.FrameLength(payload);
        Span<byte> span = writer.GetSpan(total);
        int h = Netstring.WriteHeader(payload, span);
        "OK "u8.CopyTo(span[h..]);
        Octets.Encoding.GetBytes(octets, span.Slice(h + 3, octets.Length));
        span[total - 1] = (byte)',';
        writer.Advance(total);
        return total;
    }

    /// <summary>Writes a fixed, already framed reply; returns the bytes written.</summary>
    public static int Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> reply)
    {
        writer.Write(reply);
        return reply.Length;
    }
}
