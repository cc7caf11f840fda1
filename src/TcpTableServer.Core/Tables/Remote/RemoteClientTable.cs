using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Logging;

namespace TcpTableServer.Tables.Remote;

/// <summary>What a reply parser made of the buffered bytes.</summary>
internal enum ReplyState : byte
{
    /// <summary>More bytes are needed.</summary>
    Incomplete,
    /// <summary>A reply that leaves the connection usable.</summary>
    Complete,
    /// <summary>A reply after which the connection is closed (Postfix's tcp client closes after a 4xx).</summary>
    CompleteClose,
    /// <summary>A malformed or oversized reply: temporary error, connection closed.</summary>
    Malformed,
}

/// <summary>
/// Base of the client tables that ask another lookup server (<c>tcp:</c>, <c>socketmap:</c>),
/// so a local server can front a central one. Connections as Postfix's clients keep them,
/// with the limits a server needs:
/// <list type="bullet">
/// <item>Persistent connections, opened on demand and kept while they work: a small pool of
/// at most <see cref="MaxConnections"/>, each carrying one request at a time (no
/// pipelining: Postfix's clients never pipeline, and a server need not accept it). Requests
/// beyond that wait for a free connection, asynchronously, at most <see cref="Timeout"/>;
/// more than <see cref="MaxWaiting"/> waiting answer TempError at once (bounded queue).</item>
/// <item>Retry as Postfix's dict_sockmap: a request that fails with end-of-file or an I/O
/// error after the connect (the server closed an idle connection, or restarted) is sent
/// once more on a new connection at once; a second failure, a failed connect and a timeout
/// answer <see cref="LookupStatus.TempError"/> with a rate-limited warning. (Postfix's
/// dict_tcp retries up to 10 times with a 1 s sleep; a server holding a request 10 s would
/// stall its own clients, so the tcp client retries as dict_sockmap does.)</item>
/// <item>Each attempt (connect, send, reply) is bounded by <see cref="Timeout"/> (Postfix
/// uses 100 s; a backup behind memcached must answer much sooner). A timeout, a malformed
/// reply or bytes after a reply close the connection: a late reply must never be read as
/// the answer to the next request.</item>
/// <item>Read-only, as Postfix's tcp and socketmap tables are (neither has an update or
/// delete): a write-back answers <see cref="UpdateStatus.ConfigError"/> with a warning,
/// like our other read-only tables. No sequence either (Fail).</item>
/// </list>
/// </summary>
internal abstract class RemoteClientTable : ReadOnlyTable
{
    /// <summary>Connections kept per table (one request each at a time).</summary>
    public const int MaxConnections = 4;

    /// <summary>Requests waiting for a free connection before new ones answer TempError.</summary>
    public const int MaxWaiting = 10_000;

    /// <summary>Per-attempt limit for connect, send and reply.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Stack<ClientConnection> _idle = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _slots = new(MaxConnections, MaxConnections);
    private readonly LogThrottle _failures;
    private int _waiting;
    private volatile bool _disposed;

    protected RemoteClientTable(string name, EndpointSpec endpoint, ILogger logger, TimeSpan? timeout)
        : base(name, logger, throttleRefusals: true)
    {
        Endpoint = endpoint;
        Timeout = timeout ?? DefaultTimeout;
        _failures = new LogThrottle(logger, LogLevel.Warning, $"{name}: failed lookups");
    }

    public EndpointSpec Endpoint { get; }

    public TimeSpan Timeout { get; }

    /// <summary>The most bytes one reply may take in the buffer.</summary>
    protected abstract int ReplyLimit { get; }

    /// <summary>The request bytes for <paramref name="key"/>; null answers <paramref name="immediate"/> without asking.</summary>
    protected abstract byte[]? Request(string key, out LookupResult immediate);

    /// <summary>Parses one reply off the front of <paramref name="buffered"/> (the connection's buffer, not copied).</summary>
    protected abstract ReplyState Parse(ReadOnlyMemory<byte> buffered, out int consumed, out LookupResult result, out string? problem);

    /// <summary>Warns (rate limited) about one failed lookup.</summary>
    protected void Warn(string message)
    {
        if (_failures.Admit())
            Logger.LogWarning("{Table}: lookup error: {Problem}", Name, message);
    }

    public override async ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        if (_disposed) return LookupResult.TempError;
        byte[]? request = Request(key, out var immediate);
        if (request is null) return immediate;
        if (Interlocked.Increment(ref _waiting) > MaxWaiting + MaxConnections)
        {
            Interlocked.Decrement(ref _waiting);
            Warn($"more than {MaxWaiting} requests waiting for a connection to {Endpoint.Display}");
            return LookupResult.TempError;
        }
        try
        {
            if (!await _slots.WaitAsync(Timeout, ct).ConfigureAwait(false))
            {
                Warn($"no free connection to {Endpoint.Display} within {Timeout.TotalSeconds:0.###} s");
                return LookupResult.TempError;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        try
        {
            return await Exchange(request, ct).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>One request on a pooled or new connection, retried once on a broken connection.</summary>
    private async ValueTask<LookupResult> Exchange(byte[] request, CancellationToken ct)
    {
        for (int attempt = 0; ; attempt++)
        {
            ClientConnection? connection = attempt == 0 ? TakeIdle() : null;   // the retry: a new connection
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(Timeout);
            if (connection is null)
            {
                try
                {
                    connection = await ClientConnection.ConnectAsync(Endpoint, limit.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    Warn($"connect to {Endpoint.Display}: timed out after {Timeout.TotalSeconds:0.###} s");
                    return LookupResult.TempError;
                }
                catch (SocketException e)
                {
                    Warn($"connect to {Endpoint.Display}: {e.Message}");
                    return LookupResult.TempError;
                }
            }
            bool keep = false;
            try
            {
                await connection.SendAsync(request, limit.Token).ConfigureAwait(false);
                while (true)
                {
                    var state = Parse(connection.Buffered, out int consumed, out var result, out string? problem);
                    if (state == ReplyState.Incomplete)
                    {
                        if (!await connection.ReceiveAsync(ReplyLimit, limit.Token).ConfigureAwait(false))
                            throw new EndOfStreamException("unexpected EOF");
                        continue;
                    }
                    if (state == ReplyState.Malformed)
                    {
                        Warn($"{problem} from {Endpoint.Display}");
                        return LookupResult.TempError;
                    }
                    connection.Consume(consumed);
                    if (problem is not null) Warn(problem);
                    // bytes after the reply: the connection is out of step, never reuse it
                    keep = state == ReplyState.Complete && connection.Buffered.IsEmpty;
                    return result;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                Warn($"no reply from {Endpoint.Display} within {Timeout.TotalSeconds:0.###} s");
                return LookupResult.TempError;
            }
            catch (InvalidDataException e)
            {
                Warn($"{e.Message} from {Endpoint.Display}");
                return LookupResult.TempError;
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)   // EndOfStreamException is an IOException
            {
                // a broken connection (the server closed it or restarted): once more on a new one
                if (attempt == 0 && !_disposed) { connection.Dispose(); connection = null; continue; }
                Warn($"{Endpoint.Display}: {e.Message}");
                return LookupResult.TempError;
            }
            finally
            {
                if (connection is not null)
                {
                    if (keep) Return(connection);
                    else connection.Dispose();
                }
            }
        }
    }

    private ClientConnection? TakeIdle()
    {
        lock (_lock) return _idle.TryPop(out var c) ? c : null;
    }

    private void Return(ClientConnection connection)
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    public override ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => ValueTask.FromResult(SequenceResult.Fail);

    /// <summary>Closes the idle connections; requests in flight finish on theirs, which are then closed.</summary>
    public override ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _disposed = true;
            while (_idle.TryPop(out var c)) c.Dispose();
        }
        _failures.Dispose();
        return base.DisposeAsync();
    }

    /// <summary>A server's text for a warning: at most 200 characters, anything but printable ASCII as '?'.</summary>
    protected static string Printable(ReadOnlySpan<byte> octets)
    {
        var chars = new char[Math.Min(octets.Length, 200)];
        for (int i = 0; i < chars.Length; i++) chars[i] = octets[i] is >= 0x20 and < 0x7f ? (char)octets[i] : '?';
        return new string(chars);
    }
}
