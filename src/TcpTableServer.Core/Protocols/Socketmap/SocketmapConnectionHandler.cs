using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>
/// socketmap_table(5) server side (spec section 2): one netstring per request, the map
/// chosen by name (case-sensitive, ordinal), answers strictly in order, one flush per batch.
/// Framing errors and requests over 1 MiB close the connection without reply (S18, S19);
/// a half-close by the client or a graceful host stop answers what was received (S24).
/// </summary>
public sealed class SocketmapConnectionHandler : ConnectionHandler
{
    /// <summary>
    /// Largest request payload the server accepts (POLICY 1 MiB, spec 2.6); a longer length
    /// prefix closes the connection before the payload is read (S19).
    /// </summary>
    public const int MaxRequestPayload = 1024 * 1024;

    private const int FlushThreshold = 64 * 1024;

    private readonly Dictionary<string, ITable> _maps;
    private readonly Dictionary<string, ITable>.AlternateLookup<ReadOnlySpan<char>> _byName;
    private readonly int _longestName;
    private readonly TimeSpan _idleTimeout;
    private readonly ILogger<SocketmapConnectionHandler> _logger;

    public SocketmapConnectionHandler(
        IReadOnlyDictionary<string, ITable> maps, TimeSpan idleTimeout, ILogger<SocketmapConnectionHandler> logger)
    {
        _maps = new Dictionary<string, ITable>(maps, StringComparer.Ordinal);
        _byName = _maps.GetAlternateLookup<ReadOnlySpan<char>>();
        _longestName = _maps.Count == 0 ? 0 : _maps.Keys.Max(k => k.Length);
        _idleTimeout = idleTimeout;
        _logger = logger;
    }

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        // Not connection.ConnectionClosed: Kestrel fires it as soon as the client half-closes,
        // and the requests received before that FIN must still be answered (S24). Reads end
        // through ReadWatch; table operations carry their own timeouts; a dead peer fails the write.
        using var watch = new ReadWatch(connection, _idleTimeout);
        try
        {
            while (true)
            {
                watch.Arm();
                ReadResult result = await input.ReadAsync();
                watch.Disarm();
                ReadOnlySequence<byte> buffer = result.Buffer;
                bool close = false;
                int unflushed = 0;
                try
                {
                    while (!close)
                    {
                        if (!Netstring.TryRead(ref buffer, MaxRequestPayload, out var payload, out var error))
                        {
                            if (error != NetstringError.None)
                            {
                                ProtocolLog.ProtocolViolation(_logger, connection.ConnectionId,
                                    error == NetstringError.TooLong ? "request too large" : "netstring format error");
                                close = true;
                            }
                            break;
                        }
                        unflushed += await AnswerAsync(payload, output, connection.ConnectionId, CancellationToken.None);
                        if (unflushed >= FlushThreshold)
                        {
                            unflushed = 0;
                            close = (await output.FlushAsync()).IsCompleted;
                        }
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, result.Buffer.End);
                }
                if (unflushed > 0 && (await output.FlushAsync()).IsCompleted) close = true;
                if (watch.IdleExpired) ProtocolLog.IdleTimeout(_logger, connection.ConnectionId);
                if (close || result.IsCompleted || result.IsCanceled || watch.StopRequested) return;
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException
                                      or OperationCanceledException)
        {
            ProtocolLog.TransportError(_logger, connection.ConnectionId, e);
        }
    }

    private async ValueTask<int> AnswerAsync(
        ReadOnlySequence<byte> payload, PipeWriter output, string connectionId, CancellationToken ct)
    {
        ITable? table;
        string key;
        bool wellFormed = payload.IsSingleSegment
            ? Route(payload.FirstSpan, out table, out key)
            : RouteCopied(payload, out table, out key);
        if (!wellFormed) return SocketmapReplies.Write(output, SocketmapReplies.BadRequest);
        if (table is null) return SocketmapReplies.Write(output, SocketmapReplies.UnknownMap);

        LookupResult result;
        try
        {
            result = await table.LookupAsync(key, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            ProtocolLog.TableFailed(_logger, connectionId, table.Name, e);
            result = LookupResult.TempError;
        }
        return SocketmapReplies.WriteLookup(output, result);
    }

    /// <summary>False: bad request. True with a null table: unknown map (S13, S14).</summary>
    private bool Route(ReadOnlySpan<byte> payload, out ITable? table, out string key)
    {
        table = null;
        key = "";
        if (!SocketmapRequest.TryParse(payload, out SocketmapRequest request)) return false;
        ReadOnlySpan<byte> name = request.MapName;
        if (name.Length > _longestName) return true;
        Span<char> chars = name.Length <= 256 ? stackalloc char[256] : new char[name.Length];
        chars = chars[..Octets.Encoding.GetChars(name, chars)];
        if (_byName.TryGetValue(chars, out table)) key = request.KeyOctets;
        return true;
    }

    private bool RouteCopied(in ReadOnlySequence<byte> payload, out ITable? table, out string key)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        try
        {
            payload.CopyTo(rented);
            return Route(rented.AsSpan(0, (int)payload.Length), out table, out key);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
