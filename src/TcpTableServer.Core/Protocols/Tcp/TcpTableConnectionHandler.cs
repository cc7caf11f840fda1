using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
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
    ITable table, bool allowPut, TimeSpan? idleTimeout, ILogger<TcpTableConnectionHandler> logger)
    : ConnectionHandler
{
    /// <summary>Replies buffered beyond this are flushed even in the middle of a batch.</summary>
    private const int FlushThreshold = 64 * 1024;

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        PipeReader input = connection.Transport.Input;
        PipeWriter output = connection.Transport.Output;
        // Not connection.ConnectionClosed: Kestrel fires it as soon as the client half-closes,
        // and the requests received before that FIN must still be answered (S24). Reads end
        // through ReadWatch; table operations carry their own timeouts; a dead peer fails the write.
        using var watch = new ReadWatch(connection, idleTimeout);
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
                        TcpReadStatus status = TcpCodec.TryRead(ref buffer, allowPut, out TcpRequest request);
                        if (status == TcpReadStatus.NeedMoreData) break;
                        if (status == TcpReadStatus.LineTooLong)
                        {
                            ProtocolLog.ProtocolViolation(logger, connection.ConnectionId, "request line too long");
                            close = true;
                            break;
                        }
                        unflushed += await AnswerAsync(request, output, connection.ConnectionId, CancellationToken.None);
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
                if (watch.IdleExpired) ProtocolLog.IdleTimeout(logger, connection.ConnectionId);
                if (close || result.IsCompleted || result.IsCanceled || watch.StopRequested) return;
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException
                                      or OperationCanceledException)
        {
            ProtocolLog.TransportError(logger, connection.ConnectionId, e);
        }
    }

    private async ValueTask<int> AnswerAsync(
        TcpRequest request, PipeWriter output, string connectionId, CancellationToken ct)
    {
        switch (request.Command)
        {
            case TcpCommand.Get:
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
