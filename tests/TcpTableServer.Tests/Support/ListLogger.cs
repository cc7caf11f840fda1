using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// Records formatted log messages (thread-safe) so tests can assert the warnings of spec
/// 3.10 and section 6; serves as logger and as logger factory (every category shares it).
/// </summary>
public sealed class ListLogger : ILoggerFactory, ILogger
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get { lock (_entries) return [.. _entries]; }
    }

    public IReadOnlyList<string> Warnings
    {
        get { lock (_entries) return [.. _entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message)]; }
    }

    public ILogger CreateLogger(string categoryName) => this;
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, formatter(state, exception)));
    }
}
