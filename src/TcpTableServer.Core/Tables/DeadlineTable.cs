using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// A map's optional <c>deadline</c> (INI <c>[maps:NAME] deadline = 4s</c>): a lookup not
/// answered within it gets a temporary error at once, marked <see cref="AnswerTier.Deadline"/>
/// (socketmap <c>TIMEOUT deadline</c>, tcp <c>400</c>; spec 2.6: TIMEOUT may replace TEMP for a
/// backup timeout and Postfix treats both alike), before Postfix's own client gives up on
/// the connection (10 s for tcp and socketmap) and logs a broken server. The lookup itself goes
/// on and its result is dropped. Updates, deletes and sequences are not bounded: their
/// acknowledgement must mean the write happened.
/// A lookup that completes synchronously costs nothing; one that waits allocates a task and a
/// timer (about 200 bytes): an opt-in for maps whose backup can be slow.
/// </summary>
public sealed class DeadlineTable(ITable inner, TimeSpan deadline, ILogger logger) : ITable
{
    private readonly LogThrottle _late = new(logger, LogLevel.Warning, $"{inner.Name}: lookups past the deadline");

    public string Name => inner.Name;

    /// <summary>The bounded table.</summary>
    public ITable Inner => inner;

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        var pending = inner.LookupAsync(key, ct);
        return pending.IsCompleted ? pending : RaceAsync(pending.AsTask());
    }

    private async ValueTask<LookupResult> RaceAsync(Task<LookupResult> lookup)
    {
        try
        {
            return await lookup.WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        // The lookup goes on unobserved: a late fault is observed here, not left to the finalizer.
        _ = lookup.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        if (_late.Admit())
            logger.LogWarning("{Table}: lookup not answered within the deadline of {Seconds} s: temporary failure", inner.Name, deadline.TotalSeconds);
        return LookupResult.TempError with { Tier = AnswerTier.Deadline };
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) => inner.UpdateAsync(key, value, ct);
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) => inner.DeleteAsync(key, ct);
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => inner.SequenceAsync(ct);

    public ValueTask DisposeAsync()
    {
        _late.Dispose();
        return inner.DisposeAsync();
    }
}
