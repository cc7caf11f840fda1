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

    public async ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        var probes = search.Probes(key);
        var trace = LookupTrace.Current;
        trace?.PartialSearch(search.Use, key, probes);
        var result = LookupResult.NotFound;
        for (int i = 0; i < probes.Count; i++)
        {
            trace?.PartialProbe(i, probes[i]);
            result = await inner.LookupAsync(probes[i].Key, ct).ConfigureAwait(false);
            if (result.Status == LookupStatus.Found)
            {
                var answer = search.Answer(key, probes[i], result);
                trace?.PartialAnswer(i, probes[i], result, answer);
                return answer;
            }
            if (result.IsError)
            {
                trace?.PartialAnswer(i, probes[i], result, result);
                return result;
            }
        }
        trace?.PartialAnswer(-1, default, result, result);
        return result;
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) => inner.UpdateAsync(key, value, ct);
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) => inner.DeleteAsync(key, ct);
    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => inner.SequenceAsync(ct);
    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
