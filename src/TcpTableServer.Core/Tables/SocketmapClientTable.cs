using System.Buffers;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Tables.Remote;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>socketmap:inet:host:port:name</c> or <c>socketmap:unix:/path:name</c>: a client of
/// another socketmap server (ours or any), as Postfix's dict_sockmap (spec 2). Connections,
/// retry and timeouts: <see cref="RemoteClientTable"/>.
/// <list type="bullet">
/// <item>Request: the netstring <c>name SP key</c>, the key raw (the memcache map above has
/// folded it). A key longer than 10000 bytes is not sent: not found with a warning, as
/// Postfix 3.12's <c>socketmap_max_query_size</c>.</item>
/// <item>Reply: one netstring of at most 100000 bytes (Postfix's reply limit), split at the
/// first space: <c>OK</c> found (the value up to a NUL; <c>OK</c> without a space is found
/// empty, as Postfix 3.12), <c>NOTFOUND</c> not found, <c>TEMP</c> and <c>TIMEOUT</c>
/// <see cref="LookupStatus.TempError"/>, <c>PERM</c> <see cref="LookupStatus.ConfigError"/>
/// (dict_sockmap's DICT_ERR_CONFIG), anything else TempError; each error with a warning
/// carrying the server's reason. A framing or size error is a TempError and closes the
/// connection.</item>
/// </list>
/// </summary>
internal sealed class SocketmapClientTable : RemoteClientTable
{
    /// <summary>Postfix's socketmap_max_query_size default (3.12).</summary>
    public const int MaxQuery = 10_000;

    /// <summary>Postfix's socketmap_max_reply_size default.</summary>
    public const int MaxReply = 100_000;

    private readonly byte[] _prefix;

    private SocketmapClientTable(string name, EndpointSpec endpoint, string mapName, ILogger logger, TimeSpan? timeout)
        : base(name, endpoint, logger, timeout)
    {
        _prefix = Octets.ToBytes(mapName + " ");
    }

    /// <summary>
    /// Opens "inet:host:port:name" / "unix:/path:name" (<paramref name="spec"/> without the
    /// "socketmap:" prefix): the name is the text after the last colon. Throws
    /// <see cref="ConfigException"/> for a missing name or a bad endpoint.
    /// </summary>
    public static SocketmapClientTable Open(string spec, ILogger logger, TimeSpan? timeout = null)
    {
        int last = spec.LastIndexOf(':');
        if (last <= 0 || last == spec.Length - 1)
            throw new ConfigException($"socketmap:{spec}: need socketmap:inet:host:port:name or socketmap:unix:/path:name");
        string endpointText = spec[..last], mapName = spec[(last + 1)..];
        var endpoint = EndpointSpec.TryParse(endpointText, out string? error)
            ?? throw new ConfigException($"socketmap:{spec}: {error}");
        if (endpoint.Kind == EndpointKind.Inet && endpoint.PortNumber is not (> 0 and < 65536))
            throw new ConfigException($"socketmap:{spec}: bad port \"{endpoint.Port}\"");
        return new SocketmapClientTable("socketmap:" + spec, endpoint, mapName, logger, timeout);
    }

    protected override int ReplyLimit => Netstring.FrameLength(MaxReply);

    protected override byte[]? Request(string key, out LookupResult immediate)
    {
        immediate = LookupResult.NotFound;
        if (key.Length > MaxQuery)
        {
            Warn($"query too large: '{Octets.ToDisplay(key[..100])}', returning 'not found'");
            return null;
        }
        int payload = _prefix.Length + key.Length;
        var request = new byte[Netstring.FrameLength(payload)];
        int n = Netstring.WriteHeader(payload, request);
        _prefix.CopyTo(request, n);
        Octets.GetBytes(key, request.AsSpan(n + _prefix.Length));
        request[^1] = (byte)',';
        return request;
    }

    protected override ReplyState Parse(ReadOnlyMemory<byte> buffered, out int consumed, out LookupResult result, out string? problem)
    {
        consumed = 0;
        result = LookupResult.TempError;
        problem = null;
        var sequence = new ReadOnlySequence<byte>(buffered);
        long before = sequence.Length;
        if (!Netstring.TryRead(ref sequence, MaxReply, out var payloadSequence, out var error))
        {
            if (error == NetstringError.None) return ReplyState.Incomplete;
            problem = error == NetstringError.TooLong ? $"netstring size error (reply over {MaxReply} bytes)" : "netstring format error";
            return ReplyState.Malformed;
        }
        consumed = (int)(before - sequence.Length);
        result = Interpret(payloadSequence.FirstSpan, out problem);   // one segment: a slice of the buffer
        return ReplyState.Complete;
    }

    /// <summary>dict_sockmap's reply handling: status before the first space, exact and case-sensitive.</summary>
    internal static LookupResult Interpret(ReadOnlySpan<byte> payload, out string? problem)
    {
        problem = null;
        int space = payload.IndexOf((byte)' ');
        var status = space < 0 ? payload : payload[..space];
        var text = space < 0 ? [] : payload[(space + 1)..];
        // status compared as a C string (a NUL ends it)
        int nul = status.IndexOf((byte)0);
        if (nul >= 0) status = status[..nul];
        if (status.SequenceEqual("OK"u8)) return LookupResult.Found(Octets.FromCString(text));
        if (status.SequenceEqual("NOTFOUND"u8)) return LookupResult.NotFound;
        string errorClass;
        LookupResult result;
        if (status.SequenceEqual("TEMP"u8)) (errorClass, result) = ("temporary", LookupResult.TempError);
        else if (status.SequenceEqual("TIMEOUT"u8)) (errorClass, result) = ("timeout", LookupResult.TempError);
        else if (status.SequenceEqual("PERM"u8)) (errorClass, result) = ("permanent", LookupResult.ConfigError);
        else (errorClass, result) = ("unknown", LookupResult.TempError);
        string reason = Octets.FromCString(text).TrimStart(' ', '\t', '\r', '\n', '\v', '\f');
        if (reason.Length > 200) reason = reason[..200];
        problem = $"socketmap server {errorClass} error{(reason.Length > 0 ? ": " + Printable(Octets.ToBytes(reason)) : "")}";
        return result;
    }
}
