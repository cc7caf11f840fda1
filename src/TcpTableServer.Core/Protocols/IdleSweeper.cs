using System.Collections.Concurrent;

namespace TcpTableServer.Protocols;

/// <summary>
/// One coarse timer per idle-timeout value for the whole process (spec 1.5, 2.6): every
/// tick it walks the registered <see cref="ReadWatch"/>es and expires those that have been
/// waiting for input longer than the timeout. A request therefore costs two field writes
/// (<see cref="ReadWatch.Arm"/>, <see cref="ReadWatch.Disarm"/>) instead of two timer
/// reschedules, and an idle connection holds no timer of its own.
/// A connection is closed between timeout and timeout + one tick (a quarter of the
/// timeout, at most one second) after its last input.
/// </summary>
internal sealed class IdleSweeper
{
    private static readonly ConcurrentDictionary<long, IdleSweeper> Sweepers = new();

    private readonly long _timeoutMs;
    private readonly Lock _gate = new();
    private readonly WatchList _watches = new(static w => ref w.Slot);
    private readonly Timer _timer;

    private IdleSweeper(long timeoutMs)
    {
        _timeoutMs = timeoutMs;
        long period = Math.Clamp(timeoutMs / 4, 1, 1000);
        _timer = new Timer(static s => ((IdleSweeper)s!).Sweep(), this, period, period);
    }

    /// <summary>The shared sweeper for <paramref name="timeout"/> (created on first use).</summary>
    public static IdleSweeper For(TimeSpan timeout) =>
        Sweepers.GetOrAdd(Math.Max(1, (long)timeout.TotalMilliseconds), static ms => new IdleSweeper(ms));

    /// <summary>Adds a watch (its slot is kept in <see cref="ReadWatch.Slot"/> for <see cref="Remove"/>).</summary>
    public void Add(ReadWatch watch)
    {
        lock (_gate) _watches.Add(watch);
    }

    public void Remove(ReadWatch watch)
    {
        lock (_gate) _watches.Remove(watch);
    }

    private void Sweep()
    {
        long now = Environment.TickCount64;
        List<ReadWatch>? expired = null;
        lock (_gate)
        {
            for (int i = 0; i < _watches.Count; i++)
                if (_watches[i].TryExpire(now, _timeoutMs)) (expired ??= []).Add(_watches[i]);
        }
        // Outside the lock: with inline scheduling, cancelling a read runs that connection's
        // loop on this thread, and its end removes the watch from this very list.
        if (expired is not null) foreach (var w in expired) w.CancelRead();
    }
}
