using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Config;
using TcpTableServer.Explain;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// The memcached client of a memcache table (spec 3.8, 3.9): <c>get</c>/<c>set</c>/
/// <c>delete</c> in the text protocol with Postfix's attempt loop (max_try, retry_pause,
/// timeout) and warnings (3.10, rate limited by <see cref="MemcacheLog"/>). Requests of all
/// client connections are multiplexed on a few persistent connections
/// (<see cref="MemcachedPipeline"/>): a request joins a batch forming on a connection, else
/// goes to the least busy open connection; a second connection is opened while every open one
/// has requests in flight, so one request at a time uses one connection exactly as Postfix
/// does. When memcached is slow (on every open connection the head request has waited, or a
/// reply within the last <c>timeout</c> took, longer than a quarter of <c>timeout</c>) more
/// connections are opened, up to <c>memcache_connections</c>, instead of queueing everyone
/// behind one.
/// A command memcached would reject without reading it (a key over 250 bytes, negative
/// flags) is never sent: it fails exactly as memcached's <c>CLIENT_ERROR</c> would make it
/// fail, for that request alone. Failures are results (<see cref="LookupStatus.TempError"/>),
/// never exceptions; only cancellation throws.
/// </summary>
public sealed class MemcachedClient : IMemcacheStore
{
    /// <summary>Connections opened whenever the open ones are busy (the batching connections).</summary>
    public const int ConnectionsPerEndpoint = 2;

    /// <summary>memcached's KEY_MAX_LENGTH: longer keys get <c>CLIENT_ERROR bad command line format</c> (V40).</summary>
    public const int MaxKeyLength = 250;

    /// <summary>A forming batch this long no longer attracts requests (they spread over the connections).</summary>
    private const int JoinBatchLimit = 32;

    /// <summary>Without a timeout, a head request waiting this long marks its connection as slow.</summary>
    private const long DefaultStallMs = 500;

    private readonly EndpointSpec _endpoint;
    private readonly int _flags, _ttl, _dataSizeLimit, _maxTry;
    private readonly TimeSpan _retryPause;
    private readonly TimeSpan? _timeout;
    private readonly long _stallMs;
    private readonly string _tableName;
    private readonly MemcacheLog _log;
    private readonly MemcachedReplyParser _parser;
    private readonly MemcachedPipeline?[] _lanes;
    private readonly Action<MemcachedPipeline> _onClosed;
    private readonly Action<bool>? _answered;
    private readonly string? _nodeName;   // one of several nodes: named in query --explain
    private bool _disposed;   // under the _lanes lock

    /// <param name="settings">the table's parameters (endpoint, flags, ttl, limits, retries)</param>
    /// <param name="tableName">"memcache:name", used in warnings as Postfix's "database memcache:name"</param>
    /// <param name="log">receives the warnings of spec 3.10</param>
    /// <param name="answered">
    /// told at the end of each request's attempt loop whether memcached answered it (false: it
    /// could not be reached, the connection failed or timed out); the node health of
    /// <see cref="MemcacheNodeSet"/>. Commands never sent (rejected keys) are not reported.
    /// </param>
    internal MemcachedClient(MemcacheSettings settings, string tableName, MemcacheLog log, Action<bool>? answered = null)
    {
        _answered = answered;
        _nodeName = answered is null ? null : settings.Memcache.ToString();
        _endpoint = settings.Memcache;
        _flags = settings.Flags;
        _ttl = settings.Ttl;
        _dataSizeLimit = settings.DataSizeLimit;
        _maxTry = settings.MaxTry;
        _retryPause = TimeSpan.FromSeconds(settings.RetryPause);
        _timeout = settings.Timeout > 0 ? TimeSpan.FromSeconds(settings.Timeout) : null;
        _stallMs = _timeout is { } t ? (long)t.TotalMilliseconds / 4 : DefaultStallMs;
        _tableName = tableName;
        _log = log;
        _parser = new MemcachedReplyParser(settings.LineSizeLimit, settings.DataSizeLimit, tableName);
        _onClosed = Remove;
        _lanes = new MemcachedPipeline?[Math.Max(ConnectionsPerEndpoint, settings.MaxConnections)];
    }

    /// <summary><c>get &lt;key&gt;</c>: Found (value cut at the first NUL), NotFound, or TempError.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    public async ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default)
    {
        var reply = await RunAsync(MemcachedCommand.Get, key, null, ct).ConfigureAwait(false);
        if (reply.Verdict != Verdict.Done && reply.Verdict != Verdict.DoneThenClose) return LookupResult.TempError;
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
            // Postfix names the key here; the key goes to the debug line
            if (_log.Admit(MemcacheWarning.DataTooLong))
                _log.Logger.LogWarning("database {Table}: data is too long ({Parameter}={Limit}) -- not stored",
                    _tableName, "data_size_limit", _dataSizeLimit);
            _log.DebugKey($"database {_tableName}: data too long", key);
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
        return reply.Verdict is Verdict.Done or Verdict.DoneThenClose
            ? new UpdateResult((UpdateStatus)reply.Status)
            : UpdateResult.TempError;
    }

    /// <summary>
    /// The attempt loop of spec 3.9; the last attempt's reply. An attempt that memcached never
    /// answered because its connection closed for another request (<see cref="Verdict.Replay"/>)
    /// is sent again at once and does not count; after max_try such replays it counts as an
    /// I/O error, so a memcached that keeps closing cannot hold a request forever.
    /// <para>
    /// Deadline: the whole loop ends within what Postfix's own client can take, timeout x
    /// max_try + retry_pause x (max_try - 1) (plus one timeout sweep), whatever memcached does.
    /// The first send needs no timer of its own (the connection's head timeout bounds it, and
    /// the hit path stays allocation-free); once it failed or was replayed, every further send
    /// carries a token that fires at the deadline (closing that connection: its reply could no
    /// longer be matched), and no new attempt starts that the deadline would cut short.
    /// </para>
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<Reply> RunAsync(MemcachedCommand command, string key, string? value, CancellationToken ct)
    {
        bool rejected = key.Length > MaxKeyLength || (command == MemcachedCommand.Set && _flags < 0);
        Reply reply = default;
        int replays = 0;
        long deadline = _timeout is { } t
            ? Environment.TickCount64 + (long)(t.TotalMilliseconds * _maxTry + _retryPause.TotalMilliseconds * (_maxTry - 1))
            : long.MaxValue;
        CancellationTokenSource? late = null;   // made on the failure path only
        var trace = LookupTrace.Current;        // query --explain: each attempt recorded
        MemcachedAttempt? traced = null;
        try
        {
            for (int attempt = 1; attempt <= _maxTry; attempt++)
            {
                if (attempt > 1)
                {
                    if (deadline - Environment.TickCount64 <= (long)_retryPause.TotalMilliseconds) break;   // no time for another attempt
                    await Task.Delay(_retryPause, ct).ConfigureAwait(false);
                }
                if (rejected)
                {
                    reply = _parser.Rejected(command);   // what memcached would answer, without sending it
                    if (trace is not null) Traced(trace, Begin(trace, command, key, value, attempt, replay: false), reply).NotSent = true;
                }
                else
                {
                    traced = trace is null ? null : Begin(trace, command, key, value, attempt, replay: false);
                    reply = await SendAsync(command, key, value, attempt == 1 ? ct : Deadline(ref late, deadline, ct), traced).ConfigureAwait(false);
                    if (trace is not null) Traced(trace, traced!, reply);
                    while (reply.Verdict == Verdict.Replay && replays++ < _maxTry && Environment.TickCount64 < deadline)
                    {
                        traced = trace is null ? null : Begin(trace, command, key, value, attempt, replay: true);
                        reply = await SendAsync(command, key, value, Deadline(ref late, deadline, ct), traced).ConfigureAwait(false);
                        if (trace is not null) Traced(trace, traced!, reply);
                    }
                    if (reply.Verdict == Verdict.Replay) reply = Reply.Failed(MemcacheWarning.IoError, _parser.IoError);
                }
                ct.ThrowIfCancellationRequested();
                if (reply.Verdict == Verdict.ConnectFailed)
                {
                    Warn(reply, key);
                    break;
                }
                if (!reply.IsFailure) break;
                if (attempt > 1) Warn(reply, key);
            }
            if (_answered is not null && !rejected) _answered(reply.Verdict is not (Verdict.ConnectFailed or Verdict.Failed));
            return reply;
        }
        finally
        {
            late?.Dispose();
        }
    }

    /// <summary>A token that fires at <paramref name="deadline"/> (or with the caller's), made once per request.</summary>
    private static CancellationToken Deadline(ref CancellationTokenSource? late, long deadline, CancellationToken ct)
    {
        if (deadline == long.MaxValue) return ct;   // timeout = 0: no deadline
        if (late is null)
        {
            late = CancellationTokenSource.CreateLinkedTokenSource(ct);
            late.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(1, deadline - Environment.TickCount64)));
        }
        return late.Token;
    }

    /// <summary>A traced attempt begins (named with its node when the map has several).</summary>
    private MemcachedAttempt Begin(LookupTrace trace, MemcachedCommand command, string key, string? value, int attempt, bool replay)
    {
        var a = trace.Attempt(command, key, attempt, replay, value?.Length);
        a.Node = _nodeName;
        return a;
    }

    /// <summary>Completes a traced attempt: its end time, its verdict and status, and the warning it carries.</summary>
    private static MemcachedAttempt Traced(LookupTrace trace, MemcachedAttempt attempt, in Reply reply)
    {
        attempt.EndMs = trace.Now;
        attempt.Warning = reply.Warning;
        attempt.Verdict = reply.Verdict;
        attempt.Status = reply.Status;
        return attempt;
    }

    private void Warn(in Reply reply, string key)
    {
        _log.Warn(reply.Cause, reply.Warning!);
        _log.DebugKey(reply.Warning!, key);
    }

    /// <summary>One attempt: queued on a connection, answered by its reader.</summary>
    private ValueTask<Reply> SendAsync(MemcachedCommand command, string key, string? value, CancellationToken ct,
        MemcachedAttempt? traced)
    {
        MemcachedPipeline? pipeline;
        bool created;
        var request = MemcachedRequest.Rent(command, key);
        request.Trace = traced;
        do
        {
            // Disposed (the table closed while a detached write-back waited): fail, open nothing.
            if ((pipeline = Pick(out created)) is null)
                return ValueTask.FromResult(Reply.Failed(MemcacheWarning.IoError, _parser.IoError));
        }
        while (!pipeline.TryEnqueue(request, key, value));
        if (created) _ = pipeline.RunAsync(_endpoint, _timeout);   // connects after the first request is queued
        return ct.CanBeCanceled ? AwaitCancelableAsync(request, pipeline, ct) : request.Task;
    }

    /// <summary>A canceled caller closes the connection (its reply can no longer be matched).</summary>
    private static async ValueTask<Reply> AwaitCancelableAsync(MemcachedRequest request, MemcachedPipeline pipeline, CancellationToken ct)
    {
        using (ct.Register(static p => ((MemcachedPipeline)p!).Abort(), pipeline))
            return await request.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// A connection whose next batch is forming (commands queued behind outstanding replies,
    /// fewer than <see cref="JoinBatchLimit"/>): joining it costs no write and no memcached read
    /// of its own, so batched requests cost memcached and the server less CPU (docs/benchmarks.md).
    /// Otherwise the open connection with the fewest requests in flight; a new one while all
    /// open ones are busy, up to <see cref="ConnectionsPerEndpoint"/>. A connection where
    /// memcached is slow (<see cref="MemcachedPipeline.IsSlow"/>: a quarter of the timeout) takes
    /// no new request while another connection is not slow, and when every open one is slow
    /// another opens, up to the map's <c>memcache_connections</c> (the extra connections are
    /// used only while the first ones are slow). When all are open and slow, the least busy.
    /// </summary>
    private MemcachedPipeline? Pick(out bool created)
    {
        created = false;
        long now = Environment.TickCount64;
        lock (_lanes)
        {
            if (_disposed) return null;
            var lane = PickAmong(0, ConnectionsPerEndpoint, now, openWhenBusy: true, out int free, out var busiest);
            if (lane is not null) return lane;
            if (busiest is null || free >= 0) return Create(free < 0 ? 0 : free, out created);
            // every base connection is slow
            lane = PickAmong(ConnectionsPerEndpoint, _lanes.Length, now, openWhenBusy: false, out free, out var extraBusiest);
            if (lane is not null) return lane;
            if (free >= 0) return Create(free, out created);
            return extraBusiest is not null && extraBusiest.InFlight < busiest.InFlight ? extraBusiest : busiest;
        }
    }

    /// <summary>
    /// Among lanes [from, to): a forming batch on a connection that is not slow, else the
    /// least busy connection that is not slow (with <paramref name="openWhenBusy"/>: only if it
    /// is idle or no slot is free). Null otherwise, with the first free slot (-1: none) and
    /// the least busy other connection.
    /// </summary>
    private MemcachedPipeline? PickAmong(int from, int to, long now, bool openWhenBusy, out int free,
        out MemcachedPipeline? leastBusySlow)
    {
        MemcachedPipeline? best = null;
        free = -1;
        leastBusySlow = null;
        for (int i = from; i < to; i++)
        {
            var lane = _lanes[i];
            if (lane is null || lane.IsClosed)
            {
                if (free < 0) free = i;
                continue;
            }
            if (lane.IsSlow(now))
            {
                if (leastBusySlow is null || lane.InFlight < leastBusySlow.InFlight) leastBusySlow = lane;
                continue;
            }
            if (lane.Unsent is > 0 and < JoinBatchLimit) return lane;
            if (best is null || lane.InFlight < best.InFlight) best = lane;
        }
        if (best is not null && (!openWhenBusy || best.InFlight == 0 || free < 0)) return best;
        if (best is not null) leastBusySlow = best;   // busy: a free slot opens a connection, else this one
        return null;
    }

    private MemcachedPipeline Create(int slot, out bool created)
    {
        created = true;
        return _lanes[slot] = new MemcachedPipeline(_parser, _timeout, _flags, _ttl, _onClosed, _stallMs);
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
            _disposed = true;
            open = [.. _lanes];
            Array.Clear(_lanes);
        }
        foreach (var p in open) p?.Abort();
        return ValueTask.CompletedTask;
    }
}
