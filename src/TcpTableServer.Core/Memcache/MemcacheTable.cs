using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>A memcache_table(5) table: memcached cache plus optional backup table (spec section 3).</summary>
public sealed class MemcacheTable : ITable
{
    public string Name => throw new NotImplementedException();

    /// <summary>
    /// Parses the parameters (spec 3.1), opens the backup and domain tables through
    /// <paramref name="tables"/>. Throws <see cref="ConfigException"/> with file and line.
    /// </summary>
    public static MemcacheTable Open(string name, IReadOnlyDictionary<string, ConfigValue> parameters,
        ITableFactory tables, string baseDirectory, ILoggerFactory loggers) =>
        throw new NotImplementedException("memcache helper");

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) => throw new NotImplementedException();
    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) => throw new NotImplementedException();
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) => throw new NotImplementedException();
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => throw new NotImplementedException();
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
