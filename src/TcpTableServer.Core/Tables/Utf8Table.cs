using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using TcpTableServer.Async;
using TcpTableServer.Explain;
using TcpTableServer.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// Postfix's UTF-8 layer (dict_utf8, active with <c>smtputf8_enable = yes</c>, spec 3.3) in
/// front of a table, as Postfix puts it in front of a memcache: table, of its backup and of
/// the tables in its domain list:
/// <list type="bullet">
/// <item>a key that is not valid UTF-8 (<see cref="CaseFolding.IsValidUtf8"/>) is not looked up
/// (warning, not found), not updated and not deleted (warning, reported as success: the item
/// cannot exist); the table is never called;</item>
/// <item>otherwise the key is case-folded (<see cref="CaseFolding.Fold(string)"/>) when the map
/// folds keys (<c>fold_keys</c>, Postfix's DICT_FLAG_FOLD_FIX), and the table gets the folded key;</item>
/// <item>a found value that is not valid UTF-8 becomes a configuration error (warning); an update
/// with such a value is skipped (warning, success).</item>
/// </list>
/// All-ASCII keys and values take a path that allocates nothing.
/// </summary>
public sealed class Utf8Table : ITable
{
    private const string Malformed = "malformed UTF-8 or invalid codepoint";

    private readonly ITable _inner;
    private readonly bool _foldKeys;
    private readonly ILogger _logger;
    private readonly LogThrottle _badKeys, _badValues;

    /// <param name="inner">the table behind the layer</param>
    /// <param name="foldKeys">fold keys (fold_keys = yes), or only validate them</param>
    public Utf8Table(ITable inner, bool foldKeys, ILogger logger)
    {
        _inner = inner;
        _foldKeys = foldKeys;
        _logger = logger;
        _badKeys = new LogThrottle(logger, LogLevel.Warning, $"{inner.Name}: non-UTF-8 keys");
        _badValues = new LogThrottle(logger, LogLevel.Warning, $"{inner.Name}: non-UTF-8 values");
    }

    public string Name => _inner.Name;

    /// <summary>The table behind this layer.</summary>
    public ITable Inner => _inner;

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        if (!CaseFolding.IsValidUtf8(key))
        {
            LookupTrace.Current?.Utf8(Name, key, valid: false, _foldKeys, null);
            WarnKey(key);
            return ValueTask.FromResult(LookupResult.NotFound.From(AnswerTier.Skipped));
        }
        var folded = Folded(key);
        LookupTrace.Current?.Utf8(Name, key, valid: true, _foldKeys, folded);   // query --explain
        if (folded is null) return ValueTask.FromResult(LookupResult.TempError.From(AnswerTier.Error));
        var pending = _inner.LookupAsync(folded, ct);
        return pending.IsCompletedSuccessfully
            ? ValueTask.FromResult(CheckValue(key, pending.Result))
            : CheckValueAsync(key, pending);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<LookupResult> CheckValueAsync(string key, ValueTask<LookupResult> pending) =>
        CheckValue(key, await pending.ConfigureAwait(false));

    private LookupResult CheckValue(string key, LookupResult result)
    {
        if (result.Status != LookupStatus.Found || CaseFolding.IsValidUtf8(result.Value)) return result;
        WarnValue(key, result.Value!);
        return LookupResult.ConfigError.From(AnswerTier.Error);
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        if (!CaseFolding.IsValidUtf8(key))
        {
            WarnKey(key);
            return ValueTask.FromResult(UpdateResult.Success);
        }
        if (!CaseFolding.IsValidUtf8(value))
        {
            WarnValue(key, value);
            return ValueTask.FromResult(UpdateResult.Success);
        }
        return Folded(key) is { } folded ? _inner.UpdateAsync(folded, value, ct) : ValueTask.FromResult(UpdateResult.TempError);
    }

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
    {
        if (!CaseFolding.IsValidUtf8(key))
        {
            WarnKey(key);
            return ValueTask.FromResult(UpdateResult.Success);
        }
        return Folded(key) is { } folded ? _inner.DeleteAsync(folded, ct) : ValueTask.FromResult(UpdateResult.TempError);
    }

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => _inner.SequenceAsync(ct);

    /// <summary>The key for the table: folded when the map folds; null (logged) when ICU fails.</summary>
    private string? Folded(string key)
    {
        if (!_foldKeys) return key;
        var folded = CaseFolding.Fold(key);
        if (folded is null)
            _logger.LogError("{Table}: cannot case-fold key \"{Key}\": {Error}",
                Name, Octets.ToDisplay(key), CaseFolding.Unavailable ?? "ICU error");
        return folded;
    }

    private void WarnKey(string key)
    {
        if (_badKeys.Admit())
            _logger.LogWarning("{Table}: non-UTF-8 key \"{Key}\": {Error}", Name, Octets.ToDisplay(key), Malformed);
    }

    private void WarnValue(string key, string value)
    {
        if (_badValues.Admit())
            _logger.LogWarning("{Table}: key \"{Key}\": non-UTF-8 value \"{Value}\": {Error}",
                Name, Octets.ToDisplay(key), Octets.ToDisplay(value), Malformed);
    }

    public async ValueTask DisposeAsync()
    {
        _badKeys.Dispose();
        _badValues.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
    }
}
