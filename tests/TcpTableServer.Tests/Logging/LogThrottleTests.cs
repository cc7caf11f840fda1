using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using TcpTableServer.Logging;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Logging;

/// <summary>
/// Log storms: a repeated warning is written once, then summarised once per window with a
/// count, so a memcached outage or a fuzzer cannot flood the log (and halve throughput).
/// </summary>
public class LogThrottleTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    [Test]
    public void First_occurrence_is_admitted_the_rest_of_the_window_is_counted()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        using var throttle = new LogThrottle(log, LogLevel.Warning, "memcache:m: memcached errors", Window, time);

        Assert.That(throttle.Admit(), Is.True);
        int admitted = 0;
        for (int i = 0; i < 3812; i++) if (throttle.Admit()) admitted++;

        Assert.That(admitted, Is.Zero);
        Assert.That(throttle.Suppressed, Is.EqualTo(3812));
        Assert.That(log.Entries, Is.Empty, "nothing is logged before the window ends");
    }

    [Test]
    public void Window_end_logs_one_summary_with_the_count_at_the_same_level()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        using var throttle = new LogThrottle(log, LogLevel.Warning, "memcache:m: memcached errors", Window, time);
        throttle.Admit();
        for (int i = 0; i < 3812; i++) throttle.Admit();

        time.Advance(Window);

        Assert.That(log.Entries, Has.Count.EqualTo(1));
        Assert.That(log.Entries[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(log.Entries[0].Message, Is.EqualTo("memcache:m: memcached errors: 3812 more in the last 10 s"));
        Assert.That(throttle.Suppressed, Is.Zero);
    }

    [Test]
    public void A_storm_that_goes_on_costs_one_summary_line_per_window()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        using var throttle = new LogThrottle(log, LogLevel.Warning, "w", Window, time);
        int fullLines = 0;
        // 60 s of 100 occurrences per second.
        for (int s = 0; s < 60; s++)
        {
            for (int i = 0; i < 100; i++) if (throttle.Admit()) fullLines++;
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.That(fullLines, Is.EqualTo(1), "only the very first line is written in full");
        Assert.That(log.Entries, Has.Count.EqualTo(6), "one summary per 10 s window");
        Assert.That(log.Entries.Sum(e => long.Parse(e.Message.Split(' ')[1])), Is.EqualTo(5999), "every suppressed line is counted");
    }

    [Test]
    public void After_a_quiet_window_the_next_occurrence_is_logged_in_full_again()
    {
        var log = new ListLogger();
        var time = new FakeTimeProvider();
        using var throttle = new LogThrottle(log, LogLevel.Warning, "w", Window, time);
        Assert.That(throttle.Admit(), Is.True);
        time.Advance(TimeSpan.FromSeconds(11));

        Assert.That(throttle.Admit(), Is.True);
        Assert.That(log.Entries, Is.Empty, "no summary when nothing was suppressed");
    }

    [Test]
    public void Dispose_reports_what_is_pending()
    {
        var log = new ListLogger();
        var throttle = new LogThrottle(log, LogLevel.Warning, "w", Window, new FakeTimeProvider());
        throttle.Admit();
        throttle.Admit();
        throttle.Admit();

        throttle.Dispose();

        Assert.That(log.Entries.Select(e => e.Message), Is.EqualTo(new[] { "w: 2 more in the last 10 s" }));
        Assert.That(throttle.Admit(), Is.False);
    }

    [Test]
    public void A_level_the_logger_does_not_write_is_neither_admitted_nor_counted()
    {
        var log = new LevelLogger(LogLevel.Warning);
        using var throttle = new LogThrottle(log, LogLevel.Debug, "w", Window, new FakeTimeProvider());
        Assert.That(throttle.Admit(), Is.False);
        Assert.That(throttle.Suppressed, Is.Zero);
    }

    private sealed class LevelLogger(LogLevel min) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= min;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) { }
    }
}
