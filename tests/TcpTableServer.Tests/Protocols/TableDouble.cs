using System.Collections.Concurrent;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// In-test <see cref="ITable"/>: dictionary-backed values, injectable results per key,
/// an optional gate that holds lookups until released, and a log of every call.
/// (Protocol tests need results the real tables would take a whole memcached scenario to
/// produce: config errors, exceptions, requests held in flight.)
/// </summary>
internal sealed class TableDouble(string name = "test:double") : ITable
{
    private readonly ConcurrentDictionary<string, LookupResult> _results = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Exception> _throws = new(StringComparer.Ordinal);

    public string Name { get; } = name;
    public ConcurrentQueue<string> LookedUp { get; } = new();
    public ConcurrentQueue<(string Key, string Value)> Updated { get; } = new();
    public UpdateResult UpdateResult { get; set; } = UpdateResult.Success;

    /// <summary>When set, every lookup waits for it (after signalling <see cref="Entered"/>).</summary>
    public TaskCompletionSource? Gate { get; set; }
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, every lookup completes asynchronously after this delay (like memcached I/O).</summary>
    public TimeSpan? Delay { get; set; }

    public TableDouble With(string key, string value) => With(key, LookupResult.Found(value));

    public TableDouble With(string key, LookupResult result)
    {
        _results[key] = result;
        return this;
    }

    public TableDouble Throwing(string key, Exception e)
    {
        _throws[key] = e;
        return this;
    }

    public async ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        LookedUp.Enqueue(key);
        if (Delay is { } delay) await Task.Delay(delay, ct);
        if (Gate is { } gate)
        {
            Entered.TrySetResult();
            await gate.Task.WaitAsync(ct);
        }
        if (_throws.TryGetValue(key, out var e)) throw e;
        return _results.TryGetValue(key, out var r) ? r : LookupResult.NotFound;
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        Updated.Enqueue((key, value));
        if (_throws.TryGetValue(key, out var e)) throw e;
        return ValueTask.FromResult(UpdateResult);
    }

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        ValueTask.FromResult(UpdateResult.Fail);

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) =>
        ValueTask.FromResult(SequenceResult.Fail);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
