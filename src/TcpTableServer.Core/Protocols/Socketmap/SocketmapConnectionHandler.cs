using System.Runtime.CompilerServices;
using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Metrics;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>
/// socketmap_table(5) server side (spec section 2): one netstring per request, the map
/// chosen by name (case-sensitive, ordinal), answers strictly in order, one flush per batch.
/// Framing errors and requests over 1 MiB close the connection without reply (S18, S19);
/// a half-close by the client or a graceful host stop answers what was received (S24).
/// </summary>
public sealed class SocketmapConnectionHandler : PipelinedConnectionHandler<ReadOnlySequence<byte>>
{
    /// <summary>
    /// Largest request payload the server accepts (POLICY 1 MiB, spec 2.6); a longer length
    /// prefix closes the connection before the payload is read (S19).
    /// </summary>
    public const int MaxRequestPayload = 1024 * 1024;

    /// <summary>
    /// The most one request makes the server buffer: its length digits, ':', the payload, ','.
    /// Leading zeros of an incomplete frame are taken off the buffer as they arrive (S17), so
    /// the digits held are at most one socket read (4 KiB) however many zeros a client sends.
    /// </summary>
    public const int MaxFrameLength = ReturningMemoryPool.BlockSize + 1 + MaxRequestPayload + 1;

    public SocketmapConnectionHandler(
        LiveMaps maps, TimeSpan? idleTimeout, ILogger<SocketmapConnectionHandler> logger, TimeProvider? time = null)
        : base(maps, idleTimeout, logger, "socketmap", time)
    {
    }

    /// <summary>Fixed maps (tests, embedding).</summary>
    public SocketmapConnectionHandler(
        IReadOnlyDictionary<string, ITable> maps, TimeSpan? idleTimeout, ILogger<SocketmapConnectionHandler> logger,
        TimeProvider? time = null)
        : this(LiveMaps.Of(maps), idleTimeout, logger, time)
    {
    }

    protected override FrameStatus TryRead(
        ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> payload, out string? violation)
    {
        violation = null;
        if (Netstring.TryRead(ref buffer, MaxRequestPayload, out payload, out var error)) return FrameStatus.Request;
        if (error == NetstringError.None) return FrameStatus.NeedMoreData;
        violation = error == NetstringError.TooLong ? "request too large" : "netstring format error";
        return FrameStatus.Close;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    protected override async ValueTask<int> AnswerAsync(ReadOnlySequence<byte> payload, MapSet maps, PipeWriter output, string connectionId)
    {
        var ct = CancellationToken.None; // the table's own timeouts bound every operation
        ITable? table;
        string key;
        bool wellFormed = payload.IsSingleSegment
            ? Route(payload.FirstSpan, maps, out table, out key)
            : RouteCopied(payload, maps, out table, out key);
        if (!wellFormed) return SocketmapReplies.Write(output, SocketmapReplies.BadRequest);
        if (table is null) return SocketmapReplies.Write(output, SocketmapReplies.UnknownMap);

        var metrics = Metrics;
        long started = metrics is null ? 0 : Stopwatch.GetTimestamp();
        LookupResult result;
        try
        {
            result = await table.LookupAsync(key, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            ProtocolLog.TableFailed(Logger, connectionId, table.Name, e);
            result = LookupResult.TempError;
        }
        metrics?.Lookup(table, ServerMetrics.Socketmap, result, started);
        return SocketmapReplies.WriteLookup(output, result);
    }

    /// <summary>False: bad request. True with a null table: unknown map (S13, S14).</summary>
    private static bool Route(ReadOnlySpan<byte> payload, MapSet maps, out ITable? table, out string key)
    {
        table = null;
        key = "";
        if (!SocketmapRequest.TryParse(payload, out SocketmapRequest request)) return false;
        ReadOnlySpan<byte> name = request.MapName;
        if (name.Length > maps.LongestName) return true;
        Span<char> chars = name.Length <= 256 ? stackalloc char[256] : new char[name.Length];
        chars = chars[..Octets.Encoding.GetChars(name, chars)];
        if (maps.TryGet(chars, out table!)) key = request.KeyOctets;
        else table = null;
        return true;
    }

    private static bool RouteCopied(in ReadOnlySequence<byte> payload, MapSet maps, out ITable? table, out string key)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent((int)payload.Length);
        try
        {
            payload.CopyTo(rented);
            return Route(rented.AsSpan(0, (int)payload.Length), maps, out table, out key);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
