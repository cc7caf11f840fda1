using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// The memcached client of a memcache table (spec 3.8, 3.9): <c>get</c>/<c>set</c>/
/// <c>delete</c> in the text protocol with Postfix's attempt loop (max_try, retry_pause,
/// timeout) and warnings (3.10). Requests of all client connections are multiplexed on at
/// most <see cref="ConnectionsPerEndpoint"/> persistent connections (<see cref="MemcachedPipeline"/>,
/// issue 5): a request joins a batch forming on a connection, else goes to the least busy open
/// connection, and a second connection is
/// opened only while every open one has requests in flight, so one request at a time uses
/// one connection exactly as Postfix does. Failures are results
/// (<see cref="LookupStatus.TempError"/>), never exceptions; only cancellation throws.
/// </summary>
public sealed class MemcachedClient : IAsyncDisposable
{
    /// <summary>Most connections one table keeps to its memcached.</summary>
    public const int ConnectionsPerEndpoint = 2;

    /// <summary>A forming batch this long no longer attracts requests (they spread over the connections).</summary>
    private const int JoinBatchLimit = 32;

    private readonly EndpointSpec _endpoint;
    private readonly int _flags, _ttl, _dataSizeLimit, _maxTry;
    private readonly TimeSpan _retryPause;
    private readonly TimeSpan? _timeout;
    private readonly string _tableName;
    private readonly ILogger _logger;
    private readonly MemcachedReplyParser _parser;
    private readonly MemcachedPipeline?[] _lanes = new MemcachedPipeline?[ConnectionsPerEndpoint];
    private readonly Action<MemcachedPipeline> _onClosed;

    /// <param name="settings">the table's parameters (endpoint, flags, ttl, limits, retries)</param>
    /// <param name="tableName">"memcache:name", used in warnings as Postfix's "database memcache:name"</param>
    /// <param name="logger">receives the warnings of spec 3.10</param>
    public MemcachedClient(MemcacheSettings settings, string tableName, ILogger logger)
    {
        _endpoint = settings.Memcache;
        _flags = settings.Flags;
        _ttl = settings.Ttl;
        _dataSizeLimit = settings.DataSizeLimit;
        _maxTry = settings.MaxTry;
        _retryPause = TimeSpan.FromSeconds(settings.RetryPause);
        _timeout = settings.Timeout > 0 ? TimeSpan.FromSeconds(settings.Timeout) : null;
        _tableName = tableName;
        _logger = logger;
        _parser = new MemcachedReplyParser(settings.LineSizeLimit, settings.DataSizeLimit, tableName);
        _onClosed = Remove;
    }

    /// <summary><c>get &lt;key&gt;</c>: Found (value cut at the first NUL), NotFound, or TempError.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    public async ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default)
    {
        var reply = await RunAsync(MemcachedCommand.Get, key, null, ct).ConfigureAwait(false);
        if (reply.Verdict is Verdict.Failed or Verdict.ConnectFailed) return LookupResult.TempError;
        return (LookupStatus)reply.Status == LookupStatus.Found ? LookupResult.Found(reply.Value!) : LookupResult.NotFound;
    }

    /// <summary>
    /// <c>set &lt;key&gt; &lt;flags&gt; &lt;ttl&gt; &lt;len&gt;</c>: Success, Fail (value longer
    /// than data_size_limit: nothing sent, warning), or TempError.
    /// </summary>
    public ValueTask<UpdateResult> SetAsync(string key, string value, CancellationToken ct = default)
    {
        if (value.Length > _dataSizeLimit)
        {
            _logger.LogWarning("database {Table}: data for key {Key} is too long ({Parameter}={Limit}) -- not stored",
                _tableName, Octets.ToDisplay(key), "data_size_limit", _dataSizeLimit);
            return ValueTask.FromResult(UpdateResult.Fail);
        }
        return UpdateAsync(MemcachedCommand.Set, key, value, ct);
    }

    /// <summary><c>delete &lt;key&gt;</c>: Success (DELETED), Fail (NOT_FOUND), or TempError.</summary>
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        UpdateAsync(MemcachedCommand.Delete, key, null, ct);

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<UpdateResult> UpdateAsync(MemcachedCommand command, string key, string? value, CancellationToken ct)
    {
        var reply = await RunAsync(command, key, value, ct).ConfigureAwait(false);
        return reply.Verdict is Verdict.Failed or Verdict.ConnectFailed
            ? UpdateResult.TempError
            : new UpdateResult((UpdateStatus)reply.Status);
    }

    /// <summary>The attempt loop of spec 3.9; the last attempt's reply.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<Reply> RunAsync(MemcachedCommand command, string key, string? value, CancellationToken ct)
    {
        Reply reply = default;
        for (int attempt = 1; attempt <= _maxTry; attempt++)
        {
            if (attempt > 1) await Task.Delay(_retryPause, ct).ConfigureAwait(false);
            reply = await SendAsync(command, key, value, ct).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (reply.Verdict == Verdict.ConnectFailed)
            {
                _logger.LogWarning("{Warning}", reply.Warning);
                break;
            }
            if (reply.Verdict != Verdict.Failed) return reply;
            if (attempt > 1) _logger.LogWarning("{Warning}", reply.Warning);
        }
        return reply;
    }

    /// <summary>One attempt: queued on a connection, answered by its reader.</summary>
    private ValueTask<Reply> SendAsync(MemcachedCommand command, string key, string? value, CancellationToken ct)
    {
        var request = MemcachedRequest.Rent(command, key);
        MemcachedPipeline pipeline;
        bool created;
        do pipeline = Pick(out created);
        while (!pipeline.TryEnqueue(request, key, value));
        if (created) _ = pipeline.RunAsync(_endpoint, _timeout);   // connects after the first request is queued
        return ct.CanBeCanceled ? AwaitCancelableAsync(request, pipeline, ct) : request.Task;
    }

    /// <summary>A canceled caller closes the connection (its reply can no longer be matched), as before pipelining.</summary>
    private static async ValueTask<Reply> AwaitCancelableAsync(MemcachedRequest request, MemcachedPipeline pipeline, CancellationToken ct)
    {
        using (ct.Register(static p => ((MemcachedPipeline)p!).Abort(), pipeline))
            return await request.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// A connection whose next batch is forming (commands queued behind outstanding replies,
    /// fewer than <see cref="JoinBatchLimit"/>): joining it costs no write and no memcached read
    /// of its own (issue 5: on the miss path memcached's CPU per request fell by a fifth).
    /// Otherwise the open connection with the fewest requests in flight; a new one while all
    /// open ones are busy.
    /// </summary>
    private MemcachedPipeline Pick(out bool created)
    {
        MemcachedPipeline? best = null;
        created = false;
        lock (_lanes)
        {
            int free = -1;
            for (int i = 0; i < _lanes.Length; i++)
            {
                var lane = _lanes[i];
                if (lane is null || lane.IsClosed)
                {
                    if (free < 0) free = i;
                    continue;
                }
                if (lane.Unsent is > 0 and < JoinBatchLimit) return lane;
                if (best is null || lane.InFlight < best.InFlight) best = lane;
            }
            if (best is null || (best.InFlight > 0 && free >= 0))
            {
                best = _lanes[free] = new MemcachedPipeline(_parser, _timeout, _flags, _ttl, _onClosed);
                created = true;
            }
        }
        return best;
    }

    private void Remove(MemcachedPipeline pipeline)
    {
        lock (_lanes)
            for (int i = 0; i < _lanes.Length; i++)
                if (ReferenceEquals(_lanes[i], pipeline)) _lanes[i] = null;
    }

    public ValueTask DisposeAsync()
    {
        MemcachedPipeline?[] open;
        lock (_lanes)
        {
            open = [.. _lanes];
            Array.Clear(_lanes);
        }
        foreach (var p in open) p?.Abort();
        return ValueTask.CompletedTask;
    }
}
