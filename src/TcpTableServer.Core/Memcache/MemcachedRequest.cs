using System.Threading.Tasks.Sources;
using TcpTableServer.Async;
using TcpTableServer.Explain;

namespace TcpTableServer.Memcache;

/// <summary>
/// One command attempt waiting in a <see cref="MemcachedPipeline"/>: its command (which reply
/// to parse), its deadline, and a reusable awaitable completion. Instances are pooled, so an
/// attempt allocates no Task.
/// </summary>
internal sealed class MemcachedRequest : IValueTaskSource<Reply>
{
    private static readonly BoundedPool<MemcachedRequest> Pool = new(1024);

    private ManualResetValueTaskSourceCore<Reply> _core;

    // The pipeline's reader completes requests and runs their continuations inline (the
    // rest of a client request up to its next await: writing the reply, flushing it to
    // Kestrel), saving one thread-pool hop per request. Callers must therefore never block
    // synchronously on memcached inside such a continuation.
    private MemcachedRequest() => _core.RunContinuationsAsynchronously = false;

    public MemcachedCommand Command { get; private set; }

    /// <summary>The memcached key (a get's reply names it when several keys share one line).</summary>
    public string Key { get; private set; } = "";

    /// <summary>Alone on its line, or one key of a multi-key get (set by the pipeline).</summary>
    public GetGroup Group { get; set; }

    /// <summary>The traced attempt this request is (query --explain), else null: the reader then records nothing.</summary>
    public MemcachedAttempt? Trace { get; set; }

    public static MemcachedRequest Rent(MemcachedCommand command, string key)
    {
        var request = Pool.TryRent() ?? new MemcachedRequest();
        request.Command = command;
        request.Key = key;
        request.Group = GetGroup.Single;
        request.Trace = null;
        return request;
    }

    /// <summary>The awaitable of this use of the request.</summary>
    public ValueTask<Reply> Task => new(this, _core.Version);

    public void Complete(Reply reply) => _core.SetResult(reply);

    /// <summary>Takes the result and returns the request to the pool (call exactly once per use).</summary>
    public Reply GetResult(short token)
    {
        var reply = _core.GetResult(token);
        _core.Reset();
        Key = "";   // a pooled request holds no key string
        Trace = null;
        Pool.Return(this);
        return reply;
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _core.OnCompleted(continuation, state, token, flags);
}
