using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// Base of the read-only table types (texthash, inline, static). Postfix opens these only
/// with O_RDONLY; here an update or delete (a memcache write-back to such a backup, spec 3.5
/// and 3.6) is answered with a warning "table is read-only" and
/// <see cref="UpdateStatus.ConfigError"/>.
/// </summary>
public abstract class ReadOnlyTable(string name, ILogger logger) : ITable
{
    public string Name { get; } = name;

    protected ILogger Logger { get; } = logger;

    public abstract ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default);

    public abstract ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default);

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) =>
        ReadOnly("update");

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        ReadOnly("delete");

    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private ValueTask<UpdateResult> ReadOnly(string operation)
    {
        Logger.LogWarning("{Table}: {Operation} failed: table is read-only", Name, operation);
        return ValueTask.FromResult(UpdateResult.ConfigError);
    }
}
