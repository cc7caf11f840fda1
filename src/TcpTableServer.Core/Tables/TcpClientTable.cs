using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables.Remote;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>tcp:host:port</c>: a client of another tcp_table server (ours or any), as Postfix's
/// dict_tcp (spec 1). Connections, retry and timeouts: <see cref="RemoteClientTable"/>.
/// <list type="bullet">
/// <item>Request: <c>get SP key LF</c>, the key %XX-encoded as Postfix encodes it
/// (<see cref="HexQuote"/>: everything but 0x21-0x7E other than '%').</item>
/// <item>Reply: one line of at most 4096 bytes with its LF (only the LF is removed); three
/// digits, one whitespace byte, then %XX-encoded text (any hex case; other bytes verbatim; a
/// decoded NUL ends the value). The first digit decides: 2 found, 5 not found, 4 temporary
/// error (dict_tcp then closes the connection, as we do), any other a temporary error
/// "bad status code"; a reply failing the syntax is a temporary error "malformed reply"
/// (connection closed). There is no way to say "configuration error" over tcp.</item>
/// <item>Read-only, as dict_tcp is: Postfix's tcp client has no update, so this one does not
/// send our server's <c>put</c> extension either (a write-back answers ConfigError with a
/// warning, <see cref="RemoteClientTable"/>).</item>
/// </list>
/// </summary>
internal sealed class TcpClientTable : RemoteClientTable
{
    /// <summary>dict_tcp's reply line limit, LF included.</summary>
    public const int MaxLine = 4096;

    private TcpClientTable(string name, EndpointSpec endpoint, ILogger logger, TimeSpan? timeout)
        : base(name, endpoint, logger, timeout) { }

    /// <summary>
    /// Opens "host:port" (<paramref name="spec"/> without the "tcp:" prefix; host_port.c rules:
    /// "[v6]:port", a bare port is localhost). Throws <see cref="ConfigException"/>.
    /// </summary>
    public static TcpClientTable Open(string spec, ILogger logger, TimeSpan? timeout = null)
    {
        if (!EndpointSpec.SplitHostPort(spec, out string host, out string port, out string? error))
            throw new ConfigException($"tcp:{spec}: {error}");
        var endpoint = new EndpointSpec(EndpointKind.Inet, host, port, "");
        if (endpoint.PortNumber is not (> 0 and < 65536))
            throw new ConfigException($"tcp:{spec}: bad port \"{port}\"");
        return new TcpClientTable("tcp:" + spec, endpoint, logger, timeout);
    }

    protected override int ReplyLimit => MaxLine;

    protected override byte[]? Request(string key, out LookupResult immediate)
    {
        immediate = default;
        var request = new byte[4 + HexQuote.EncodedLength(key) + 1];
        "get "u8.CopyTo(request);
        int n = HexQuote.Encode(key, request.AsSpan(4));
        request[4 + n] = (byte)'\n';
        return request;
    }

    protected override ReplyState Parse(ReadOnlyMemory<byte> reply, out int consumed, out LookupResult result, out string? problem)
    {
        consumed = 0;
        result = LookupResult.TempError;
        problem = null;
        var buffered = reply.Span;
        int lf = buffered.IndexOf((byte)'\n');
        if (lf < 0)
        {
            if (buffered.Length < MaxLine) return ReplyState.Incomplete;
            problem = $"text longer than {MaxLine}";
            return ReplyState.Malformed;
        }
        consumed = lf + 1;
        var line = buffered[..lf];
        int nul = line.IndexOf((byte)0);                    // a raw NUL ends the line as a C string
        if (nul >= 0) line = line[..nul];
        if (line.Length < 4 || !IsDigit(line[0]) || !IsDigit(line[1]) || !IsDigit(line[2])
            || line[3] is not ((byte)' ' or (byte)'\t' or (byte)'\v' or (byte)'\f' or (byte)'\r')
            || Decode(line[4..]) is not { } text)
        {
            problem = $"malformed reply: {Printable(line)}";
            return ReplyState.Malformed;
        }
        switch (line[0])
        {
            case (byte)'2':
                result = LookupResult.Found(text);
                return ReplyState.Complete;
            case (byte)'5':
                result = LookupResult.NotFound;
                return ReplyState.Complete;
            case (byte)'4':
                problem = $"server error: {Printable(line)}";
                return ReplyState.CompleteClose;
            default:
                problem = $"bad status code: {Printable(line)}";
                return ReplyState.CompleteClose;
        }
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    /// <summary>dict_tcp's decoding: '%' and two hex digits (any case) or the whole reply is malformed; a %00 ends the value.</summary>
    private static string? Decode(ReadOnlySpan<byte> encoded)
    {
        var into = encoded.Length <= 1024 ? stackalloc byte[encoded.Length] : new byte[encoded.Length];
        int n = 0;
        for (int i = 0; i < encoded.Length; i++)
        {
            byte b = encoded[i];
            if (b == (byte)'%')
            {
                if (i + 2 >= encoded.Length) return null;
                int hi = HexQuote.HexValue(encoded[i + 1]), lo = HexQuote.HexValue(encoded[i + 2]);
                if (hi < 0 || lo < 0) return null;
                b = (byte)(hi << 4 | lo);
                i += 2;
            }
            into[n++] = b;
        }
        return Octets.FromCString(into[..n]);
    }

}
