using System.Runtime.CompilerServices;
using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Metrics;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Tcp;

/// <summary>
/// tcp_table(5) server side for one map (spec section 1): reads request lines with
/// <see cref="TcpCodec"/>, answers them strictly in order with <see cref="TcpReplies"/>,
/// one flush per batch of buffered requests. An over-long request line closes the
/// connection without reply (S10); a half-close by the client or a graceful host stop
/// answers what was received and then closes (S24).
/// </summary>
public sealed class TcpTableConnectionHandler(
    LiveMaps maps, string map, bool allowPut, TimeSpan? idleTimeout, ILogger<TcpTableConnectionHandler> logger,
    TimeProvider? time = null)
    : PipelinedConnectionHandler<TcpRequest>(maps, idleTimeout, logger, "tcp", time)
{
    /// <summary>One fixed table (tests, embedding).</summary>
    public TcpTableConnectionHandler(
        ITable table, bool allowPut, TimeSpan? idleTimeout, ILogger<TcpTableConnectionHandler> logger, TimeProvider? time = null)
        : this(LiveMaps.Of(new Dictionary<string, ITable> { [table.Name] = table }), table.Name, allowPut, idleTimeout, logger, time)
    {
    }

    protected override FrameStatus TryRead(ref ReadOnlySequence<byte> buffer, out TcpRequest request, out string? violation)
    {
        violation = null;
        switch (TcpCodec.TryRead(ref buffer, allowPut, out request))
        {
            case TcpReadStatus.Request: return FrameStatus.Request;
            case TcpReadStatus.LineTooLong:
                violation = "request line too long";
                return FrameStatus.Close;
            default: return FrameStatus.NeedMoreData;
        }
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    protected override async ValueTask<int> AnswerAsync(TcpRequest request, MapSet maps, PipeWriter output, string connectionId)
    {
        var ct = CancellationToken.None; // the table's own timeouts bound every operation
        // A reload that removed the map stops this listener; until then its requests fail softly.
        if (!maps.TryGet(map, out ITable table))
            return request.Command == TcpCommand.Put ? TcpReplies.WriteUpdate(output, UpdateResult.TempError)
                : TcpReplies.WriteLookup(output, LookupResult.TempError);
        switch (request.Command)
        {
            case TcpCommand.Get:
                var metrics = Metrics;
                long started = metrics is null ? 0 : Stopwatch.GetTimestamp();
                LookupResult found;
                try
                {
                    found = await table.LookupAsync(request.Key, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    ProtocolLog.TableFailed(logger, connectionId, table.Name, e);
                    found = LookupResult.TempError;
                }
                metrics?.Lookup(table, ServerMetrics.Tcp, found, started);
                return TcpReplies.WriteLookup(output, found);

            case TcpCommand.Put:
                UpdateResult updated;
                try
                {
                    updated = await table.UpdateAsync(request.Key, request.Value, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    ProtocolLog.TableFailed(logger, connectionId, table.Name, e);
                    updated = UpdateResult.TempError;
                }
                return TcpReplies.WriteUpdate(output, updated);

            default:
                return TcpReplies.Write(output, TcpReplies.BadRequest);
        }
    }
}
