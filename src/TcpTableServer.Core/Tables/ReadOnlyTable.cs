using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// Base of the read-only table types (texthash, inline, static, cdb, pgsql, sqlite, and the
/// tcp and socketmap clients). Postfix opens these only with O_RDONLY; here an update or
/// delete (a memcache write-back to such a backup, spec 3.5 and 3.6) is answered with a
/// warning "table is read-only" and <see cref="UpdateStatus.ConfigError"/>. With
/// <paramref name="throttleRefusals"/> the warning is rate-limited (tables behind a busy map
/// whose write-backs would each warn).
/// </summary>
public abstract class ReadOnlyTable(string name, ILogger logger, bool throttleRefusals = false) : ITable
{
    private readonly LogThrottle? _refusals = throttleRefusals
        ? new LogThrottle(logger, LogLevel.Warning, $"{name}: updates refused (read-only)") : null;

    public string Name { get; } = name;

    protected ILogger Logger { get; } = logger;

    public abstract ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default);

    public abstract ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default);

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) =>
        ReadOnly("update");

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        ReadOnly("delete");

    /// <summary>Releases the warning throttle; a table holding more overrides this and calls it last.</summary>
    public virtual ValueTask DisposeAsync()
    {
        _refusals?.Dispose();
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private ValueTask<UpdateResult> ReadOnly(string operation)
    {
        if (_refusals?.Admit() ?? true)
            Logger.LogWarning("{Table}: {Operation} failed: table is read-only", Name, operation);
        return ValueTask.FromResult(UpdateResult.ConfigError);
    }
}
