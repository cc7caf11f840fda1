using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Memcache;

/// <summary>
/// The warnings of one memcache table (spec 3.10), each cause rate limited on its own
/// (<see cref="LogThrottle"/>: the first occurrence in full, then one summary per window
/// with a count): with memcached down every lookup fails the same way, and a warning per
/// lookup cost half the throughput in log I/O. Warnings never show a key or a value; the
/// debug line that goes with one does.
/// </summary>
internal sealed class MemcacheLog : IDisposable
{
    private readonly ILogger _logger;
    private readonly LogThrottle[] _throttles;

    /// <param name="logger">where the lines go</param>
    /// <param name="tableName">"memcache:name", named in the summaries</param>
    /// <param name="window">null: <see cref="LogThrottle.DefaultWindow"/></param>
    /// <param name="time">null: the system clock</param>
    public MemcacheLog(ILogger logger, string tableName, TimeSpan? window = null, TimeProvider? time = null)
    {
        _logger = logger;
        var causes = Enum.GetValues<MemcacheWarning>();
        _throttles = new LogThrottle[causes.Length];
        foreach (var cause in causes)
            _throttles[(int)cause] = new LogThrottle(logger, LogLevel.Warning, $"{tableName}: {Describe(cause)}", window, time);
    }

    public ILogger Logger => _logger;

    /// <summary>Logs <paramref name="warning"/> unless its cause is being summarised.</summary>
    public void Warn(MemcacheWarning cause, string warning)
    {
        if (_throttles[(int)cause].Admit()) _logger.LogWarning("{Warning}", warning);
    }

    /// <summary>True when a warning of <paramref name="cause"/> is to be logged now (the caller formats it).</summary>
    public bool Admit(MemcacheWarning cause) => _throttles[(int)cause].Admit();

    /// <summary>The key of a warning, at debug level.</summary>
    public void DebugKey(string what, string key)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
            _logger.LogDebug("{What}: key \"{Key}\"", what, Tables.Octets.ToDisplay(key));
    }

    private static string Describe(MemcacheWarning cause) => cause switch
    {
        MemcacheWarning.Connect => "memcached connect failures",
        MemcacheWarning.IoError => "memcached I/O errors",
        MemcacheWarning.UnexpectedReply => "unexpected memcached replies",
        MemcacheWarning.Eof => "memcached EOF errors",
        MemcacheWarning.UpdateFailed => "memcached update failures",
        MemcacheWarning.DeleteFailed => "memcached delete failures",
        MemcacheWarning.DataTooLong => "values too long to store",
        MemcacheWarning.SkipUpdate => "skipped updates",
        _ => "memcache warnings",
    };

    /// <summary>Logs the pending summaries.</summary>
    public void Dispose()
    {
        foreach (var t in _throttles) t.Dispose();
    }
}
