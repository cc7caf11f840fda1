using Microsoft.Extensions.Logging;

namespace TcpTableServer.Memcache;

/// <summary>
/// One memcached of a <see cref="MemcacheNodeSet"/>: its <see cref="MemcachedClient"/> (the
/// owner of its connections and of Postfix's attempt loop) and its health. After
/// <c>memcache_node_failures</c> consecutive requests whose attempt loop ended without
/// memcached answering (connect failed, I/O error, timeout), the node is ejected for
/// <c>memcache_node_retry</c> seconds: its keys are not sent to it (they go to the backup, or
/// fail). Then the next request tries it again: an answer brings it back, a failure leaves
/// it ejected for another period. State is two fields, read on every request without a lock.
/// </summary>
internal sealed class MemcacheNode
{
    private readonly int _failureLimit;
    private readonly long _retryMs;
    private readonly string _table;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private int _failures;      // consecutive failed requests
    private long _retryAt;      // 0: live; else ejected until this tick (ms)

    public MemcacheNodeSpec Spec { get; }
    public MemcachedClient Client { get; }

    public MemcacheNode(MemcacheNodeSpec spec, MemcacheSettings settings, string table, MemcacheLog log, TimeProvider? time = null)
    {
        Spec = spec;
        _failureLimit = settings.NodeFailures;
        _retryMs = settings.NodeRetry * 1000L;
        _table = table;
        _logger = log.Logger;
        _time = time ?? TimeProvider.System;
        Client = new MemcachedClient(settings with { Memcache = spec.Endpoint }, table, log, Report);
    }

    private long Now => _time.GetTimestamp() * 1000 / _time.TimestampFrequency;

    /// <summary>
    /// Whether this request goes to the node: always while it is live; while it is ejected,
    /// only the one request that first finds its retry time come (it claims the trial by
    /// moving the retry time on, so a node that still hangs costs one request its timeouts,
    /// not every request of that moment). Its answer brings the node back.
    /// </summary>
    public bool IsUsable
    {
        get
        {
            long retryAt = Volatile.Read(ref _retryAt);
            if (retryAt == 0) return true;
            long now = Now;
            return now >= retryAt && Interlocked.CompareExchange(ref _retryAt, now + _retryMs, retryAt) == retryAt;
        }
    }

    /// <summary>The end of each request's attempt loop (called by the client): whether memcached answered.</summary>
    private void Report(bool answered)
    {
        if (answered)
        {
            if (Volatile.Read(ref _failures) != 0) Volatile.Write(ref _failures, 0);
            if (Volatile.Read(ref _retryAt) != 0 && Interlocked.Exchange(ref _retryAt, 0) != 0)
                _logger.LogWarning("{Table}: memcached node {Node} answers again: its keys are served from it again", _table, Spec.Endpoint.Display);
            return;
        }
        int failures = Interlocked.Increment(ref _failures);
        if (failures < _failureLimit) return;
        long retryAt = Volatile.Read(ref _retryAt);
        long now = Now;
        if (retryAt != 0 && now < retryAt) return;   // already ejected (requests that were in flight)
        if (Interlocked.CompareExchange(ref _retryAt, now + _retryMs, retryAt) == retryAt)
            _logger.LogWarning("{Table}: memcached node {Node} ejected after {Failures} consecutive failures: its keys go to the backup (or fail) for {Retry} s, then it is tried again",
                _table, Spec.Endpoint.Display, failures, _retryMs / 1000);
    }
}
