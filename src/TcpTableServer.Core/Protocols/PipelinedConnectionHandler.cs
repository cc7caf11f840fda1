using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Metrics;

namespace TcpTableServer.Protocols;

/// <summary>What a codec found at the start of the buffered input.</summary>
public enum FrameStatus : byte
{
    /// <summary>No complete request yet: wait for more bytes.</summary>
    NeedMoreData,
    /// <summary>One request was taken off the buffer.</summary>
    Request,
    /// <summary>A framing violation: close the connection without reply.</summary>
    Close,
}

/// <summary>
/// The connection loop both protocols share (exemplars.md section 2): ReadAsync -> take as
/// many complete requests as the buffer holds -> answer each, strictly in order -> one
/// flush per batch (or every 64 KiB of replies) -> AdvanceTo(consumed, examined).
/// A half-close by the client or a graceful host stop answers what was received, then
/// returns (S24); an idle timeout or an eviction at the connection limit ends the connection
/// through <see cref="ReadWatch"/>. Protocol violations are logged rate limited (<see cref="ProtocolWarnings"/>).
/// Subclasses are thin: a codec call and an answer.
/// The maps are taken once per batch (<see cref="LiveMaps.Acquire"/>) and given back after
/// it: every request of a batch is answered from one configuration, and a reload takes effect
/// at the next batch of an open connection.
/// </summary>
/// <param name="time">clock of the warning throttles (tests); null: the system clock</param>
public abstract class PipelinedConnectionHandler<TRequest>(
    LiveMaps maps, TimeSpan? idleTimeout, ILogger logger, string protocol, TimeProvider? time = null)
    : ConnectionHandler
{
    /// <summary>Replies buffered beyond this are flushed even in the middle of a batch.</summary>
    private const int FlushThreshold = 64 * 1024;

    private readonly ProtocolWarnings _warnings = new(logger, protocol, time);

    protected ILogger Logger => logger;

    /// <summary>The maps this handler answers from.</summary>
    public LiveMaps Maps => maps;

    /// <summary>Where answered lookups are recorded; null (metrics off): nowhere, at the cost of a null check.</summary>
    public ServerMetrics? Metrics { get; init; }

    /// <summary>Takes one request off the front of <paramref name="buffer"/> (pure codec call).</summary>
    protected abstract FrameStatus TryRead(ref ReadOnlySequence<byte> buffer, out TRequest request, out string? violation);

    /// <summary>Answers one request from <paramref name="maps"/>; returns the number of reply bytes written.</summary>
    protected abstract ValueTask<int> AnswerAsync(TRequest request, MapSet maps, PipeWriter output, string connectionId);

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
                MapSet? leased = null;
                try
                {
                    while (!close)
                    {
                        FrameStatus status = TryRead(ref buffer, out TRequest request, out string? violation);
                        if (status == FrameStatus.NeedMoreData) break;
                        if (status == FrameStatus.Close)
                        {
                            _warnings.Violation(connection, violation ?? "framing error");
                            close = true;
                            break;
                        }
                        leased ??= maps.Acquire();
                        unflushed += await AnswerAsync(request, leased, output, connection.ConnectionId);
                        if (unflushed >= FlushThreshold)
                        {
                            unflushed = 0;
                            close = (await output.FlushAsync()).IsCompleted;
                        }
                    }
                }
                finally
                {
                    leased?.Release();
                    input.AdvanceTo(buffer.Start, result.Buffer.End);
                }
                if (unflushed > 0 && (await output.FlushAsync()).IsCompleted) close = true;
                if (watch.IdleExpired) ProtocolLog.IdleTimeout(logger, connection.ConnectionId);
                if (watch.Evicted) ProtocolLog.Evicted(logger, connection.ConnectionId);
                if (close || result.IsCompleted || result.IsCanceled || watch.StopRequested) return;
            }
        }
        catch (Exception e) when (e is IOException or ConnectionResetException or ConnectionAbortedException
                                      or OperationCanceledException)
        {
            ProtocolLog.TransportError(logger, connection.ConnectionId, e);
        }
    }
}
