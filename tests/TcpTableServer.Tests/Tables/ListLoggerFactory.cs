using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tests.Tables;

/// <summary>Captures log messages (level and formatted text) so tests can assert the warnings.</summary>
public sealed class ListLoggerFactory : ILoggerFactory
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<string> Warnings
    {
        get { lock (_entries) return [.. _entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message)]; }
    }

    public ILogger CreateLogger(string categoryName) => new ListLogger(this);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class ListLogger(ListLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            lock (owner._entries) owner._entries.Add((logLevel, formatter(state, exception)));
        }
    }
}
