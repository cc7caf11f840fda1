using System.Buffers;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Tcp;

/// <summary>
/// Canonical tcp_table replies (spec 1.7 POLICY table, 1.8, 3.12): one line per request,
/// bare LF, found values %XX-encoded, whole line at most 4096 bytes.
/// </summary>
public static class TcpReplies
{
    /// <summary>Longest reply line the Postfix client reads, LF included (spec 1.4).</summary>
    public const int MaxReplyLine = 4096;

    /// <summary>Longest encoded value that fits: 4096 - "200 " - LF = 4091 (S09).</summary>
    public const int MaxEncodedValue = MaxReplyLine - 5;

    public static ReadOnlySpan<byte> NotFound => "500 not-found\n"u8;
    public static ReadOnlySpan<byte> TemporaryFailure => "400 temporary-failure\n"u8;
    public static ReadOnlySpan<byte> ConfigurationError => "400 configuration-error\n"u8;
    public static ReadOnlySpan<byte> ReplyTooLong => "400 reply-too-long\n"u8;
    public static ReadOnlySpan<byte> BadRequest => "400 bad-request\n"u8;
    public static ReadOnlySpan<byte> Ok => "200 ok\n"u8;
    public static ReadOnlySpan<byte> NotUpdated => "500 not-updated\n"u8;

    /// <summary>Writes the reply to a lookup (spec 3.12); returns the bytes written.</summary>
    public static int WriteLookup(IBufferWriter<byte> writer, in LookupResult result) => result.Status switch
    {
        LookupStatus.Found => WriteFound(writer, result.Value),
        LookupStatus.NotFound => Write(writer, NotFound),
        LookupStatus.ConfigError => Write(writer, ConfigurationError),
        _ => Write(writer, TemporaryFailure),
    };

    /// <summary>Writes the reply to a <c>put</c> (spec 1.8); returns the bytes written.</summary>
    public static int WriteUpdate(IBufferWriter<byte> writer, in UpdateResult result) => result.Status switch
    {
        UpdateStatus.Success => Write(writer, Ok),
        UpdateStatus.Fail => Write(writer, NotUpdated),
        UpdateStatus.ConfigError => Write(writer, ConfigurationError),
        _ => Write(writer, TemporaryFailure),
    };

    /// <summary>
    /// <c>200 hexquote(value)\n</c>, the value cut at its first NUL (spec 1.3, V12), or
    /// <c>400 reply-too-long\n</c> when the line would exceed 4096 bytes (S09).
    /// </summary>
    public static int WriteFound(IBufferWriter<byte> writer, string? value)
    {
        ReadOnlySpan<char> octets = value;
        int nul = octets.IndexOf('\0');
        if (nul >= 0) octets = octets[..nul];
        if (octets.Length > MaxEncodedValue) return Write(writer, ReplyTooLong);
        int encoded = HexQuote.EncodedLength(octets);
        if (encoded > MaxEncodedValue) return Write(writer, ReplyTooLong);

        int total = encoded + 5;
        Span<byte> span = writer.GetSpan(total);
        "200 "u8.CopyTo(span);
        HexQuote.Encode(octets, span[4..]);
        span[total - 1] = (byte)'\n';
        writer.Advance(total);
        return total;
    }

    /// <summary>Writes a fixed reply line; returns the bytes written.</summary>
    public static int Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> reply)
    {
        writer.Write(reply);
        return reply.Length;
    }
}
