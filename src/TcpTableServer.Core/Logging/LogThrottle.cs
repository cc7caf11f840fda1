using Microsoft.Extensions.Logging;

namespace TcpTableServer.Logging;

/// <summary>
/// Rate limit for one kind of repeated log line (one map and one cause, or one listener and
/// one protocol violation): a server that multiplexes a fleet must not write two warnings per
/// lookup while memcached is down, or one per malformed connection under a fuzzer.
/// <list type="bullet">
/// <item>The first occurrence is always logged in full (<see cref="Admit"/> returns true).</item>
/// <item>Further occurrences within <c>window</c> of it are only counted; when the window ends
/// one summary line is logged at the same level ("{what}: 3812 more in the last 10 s"), and
/// the next window starts then, so a storm that goes on costs one line per window.</item>
/// <item>After a quiet window, the next occurrence is logged in full again.</item>
/// </list>
/// Callers check <see cref="Admit"/> before formatting their message, so a suppressed line
/// costs a lock and a counter, no formatting. This is the error path, never the hit path.
/// </summary>
public sealed class LogThrottle : IDisposable
{
    /// <summary>The default window: 10 seconds.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly LogLevel _level;
    private readonly string _what;
    private readonly TimeSpan _window;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private long _windowEnd = long.MinValue;   // TimeProvider timestamp
    private long _suppressed;
    private ITimer? _timer;
    private bool _disposed;

    /// <param name="logger">where the summary lines go</param>
    /// <param name="level">the level of the summary lines (that of the throttled lines)</param>
    /// <param name="what">names the kind in the summary, e.g. "memcache:aliases: memcached errors"</param>
    /// <param name="window">null: <see cref="DefaultWindow"/></param>
    /// <param name="time">null: the system clock</param>
    public LogThrottle(ILogger logger, LogLevel level, string what, TimeSpan? window = null, TimeProvider? time = null)
    {
        _logger = logger;
        _level = level;
        _what = what;
        _window = window ?? DefaultWindow;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Occurrences counted and not yet reported (for tests and metrics).</summary>
    public long Suppressed
    {
        get { lock (_gate) return _suppressed; }
    }

    /// <summary>
    /// True: log this occurrence now. False: it was counted for the next summary line.
    /// Returns false without counting when the logger does not write this level at all.
    /// </summary>
    public bool Admit()
    {
        if (!_logger.IsEnabled(_level)) return false;
        long now = _time.GetTimestamp();
        lock (_gate)
        {
            if (_disposed) return false;
            if (now >= _windowEnd && _suppressed == 0)
            {
                _windowEnd = now + Ticks(_window);
                return true;
            }
            _suppressed++;
            if (_timer is null)
            {
                var due = TimeSpan.FromSeconds(Math.Max(0, _windowEnd - now) / (double)_time.TimestampFrequency);
                _timer = _time.CreateTimer(static s => ((LogThrottle)s!).Flush(), this, due, Timeout.InfiniteTimeSpan);
            }
            return false;
        }
    }

    /// <summary>Ends the current window: logs the summary of what it suppressed, if anything.</summary>
    private void Flush()
    {
        long count;
        lock (_gate)
        {
            _timer?.Dispose();
            _timer = null;
            count = _suppressed;
            _suppressed = 0;
            if (count == 0 || _disposed) return;
            _windowEnd = _time.GetTimestamp() + Ticks(_window);   // the storm's next lines are summarised again
        }
        _logger.Log(_level, "{What}: {Count} more in the last {Seconds} s", _what, count, _window.TotalSeconds);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>Logs what is pending and stops the timer.</summary>
    public void Dispose()
    {
        Flush();
        lock (_gate) _disposed = true;
    }
}
