using System.Runtime.CompilerServices;
using TcpTableServer.Async;
using TcpTableServer.Explain;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// A map with <c>partial_keys</c>: for each key Postfix sends (always the full key, spec 1.6),
/// asks the map's own table stack (UTF-8 layer, L1, key preparation, memcached, backup and
/// write-back) for each probe of the use's search in turn and answers with the first hit, as
/// Postfix would from a hash: table with the same data. A temporary or configuration error on a
/// probe ends the search with that error, as a maps_find error ends Postfix's search.
/// Updates, deletes and sequences go to the map unchanged (full keys).
/// </summary>
public sealed class PartialKeyTable(ITable inner, IPartialKeySearch search) : ITable
{
    public string Name => inner.Name;

    /// <summary>The map's table stack below the search.</summary>
    public ITable Inner => inner;

    public IPartialKeySearch Search => search;

    /// <summary>
    /// The full key first (every search starts with it): a hit or an error there is the answer
    /// as is, without computing the probes, so a full-key hit costs what the map alone costs.
    /// </summary>
    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        if (LookupTrace.Current is { } trace) return TracedAsync(key, trace, ct);
        var first = inner.LookupAsync(key, ct);
        if (!first.IsCompletedSuccessfully) return AfterFirstAsync(key, first, ct);
        var result = first.Result;
        return result.Status == LookupStatus.NotFound ? RestAsync(key, result, ct) : ValueTask.FromResult(result);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<LookupResult> AfterFirstAsync(string key, ValueTask<LookupResult> first, CancellationToken ct)
    {
        var result = await first.ConfigureAwait(false);
        return result.Status == LookupStatus.NotFound ? await RestAsync(key, result, ct).ConfigureAwait(false) : result;
    }

    /// <summary>The probes after the full key, which missed with <paramref name="result"/>.</summary>
    private async ValueTask<LookupResult> RestAsync(string key, LookupResult result, CancellationToken ct)
    {
        var probes = search.Probes(key);
        for (int i = FirstAfterKey(key, probes); i < probes.Count; i++)
        {
            result = await inner.LookupAsync(probes[i].Key, ct).ConfigureAwait(false);
            if (result.Status == LookupStatus.Found) return search.Answer(key, probes[i], result);
            if (result.IsError) return result;
        }
        return result;
    }

    /// <summary>query --explain: the same order (the full key first), every probe recorded.</summary>
    private async ValueTask<LookupResult> TracedAsync(string key, LookupTrace trace, CancellationToken ct)
    {
        var probes = search.Probes(key);
        if (FirstAfterKey(key, probes) == 0) probes = [new Probe(key, "full key"), .. probes];
        trace.PartialSearch(search.Use, key, probes);
        var result = LookupResult.NotFound;
        for (int i = 0; i < probes.Count; i++)
        {
            trace.PartialProbe(i, probes[i]);
            result = await inner.LookupAsync(probes[i].Key, ct).ConfigureAwait(false);
            if (result.Status == LookupStatus.Found || result.IsError)
            {
                var answer = result.IsError ? result : search.Answer(key, probes[i], result);
                trace.PartialAnswer(i, probes[i], result, answer);
                return answer;
            }
        }
        trace.PartialAnswer(-1, default, result, result);
        return result;
    }

    /// <summary>1 when the first probe is the key itself (asked already), else 0.</summary>
    private static int FirstAfterKey(string key, IReadOnlyList<Probe> probes) =>
        probes.Count > 0 && string.Equals(probes[0].Key, key, StringComparison.Ordinal) ? 1 : 0;

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) => inner.UpdateAsync(key, value, ct);
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) => inner.DeleteAsync(key, ct);
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => inner.SequenceAsync(ct);
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
