using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// What the pgsql: and sqlite: tables share: the lookup steps before the query (the key
/// check, the <c>domain</c> list, the unquoted expansion that decides whether the key is
/// queried at all) in Postfix's order, and their read-only answers. Postfix opens these tables
/// only with O_RDONLY, so a memcache write-back to one (spec 3.5, 3.6) fails: warned, and
/// answered <see cref="UpdateStatus.ConfigError"/> as for the other read-only tables
/// (<see cref="ReadOnlyTable"/>). They cannot be listed either (no first/next in Postfix).
/// </summary>
public abstract class SqlTable(string name, SqlQuery query, ILogger logger) : ReadOnlyTable(name, logger)
{
    private readonly Logging.LogThrottle _problems = new(logger, LogLevel.Warning, $"{name}: lookup problems");

    protected SqlQuery Query { get; } = query;

    /// <summary>Rate-limits the table's request-path warnings (a failing database fails every lookup).</summary>
    protected bool AdmitWarning() => _problems.Admit();

    public override async ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        // A C string cannot hold NUL: Postfix never looks such a key up, and a query cut at
        // the NUL would look up another key. Not "not found": we cannot know.
        if (key.Contains('\0'))
        {
            if (AdmitWarning()) Logger.LogWarning("{Table}: lookup key contains a NUL byte: not queried", Name);
            return LookupResult.TempError;
        }
        if (!AdmitsEncoding(key)) return LookupResult.NotFound;
        if (Query.Domain is { } domain)
        {
            var check = await domain.CheckAsync(key, ct).ConfigureAwait(false);
            if (check.IsError) return LookupResult.Error(check.Error);
            if (!check.Matches) return LookupResult.NotFound;
        }
        if (!Query.Admits(key)) return LookupResult.NotFound;
        return await QueryAsync(key, ct).ConfigureAwait(false);
    }

    /// <summary>Whether a key in this encoding is looked up (sqlite skips keys that are not UTF-8).</summary>
    protected virtual bool AdmitsEncoding(string key) => true;

    /// <summary>Runs the query for an admitted key: the joined results, or an error (never throws but for <paramref name="ct"/>).</summary>
    protected abstract ValueTask<LookupResult> QueryAsync(string key, CancellationToken ct);

    public override ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
    {
        Logger.LogWarning("{Table}: first/next is not supported", Name);
        return ValueTask.FromResult(SequenceResult.ConfigError);
    }

    public override async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await Query.DisposeAsync().ConfigureAwait(false);
        _problems.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Closes the table's connections and threads, letting lookups in flight finish or fail.</summary>
    protected abstract ValueTask CloseAsync();
}
