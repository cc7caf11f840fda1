using System.Collections.Frozen;
using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tables;

/// <summary>
/// An in-memory, read-only fixed-key table (Postfix's dict_ht as reused by texthash and
/// inline): keys are ASCII-lowercased when loaded and on lookup (spec 3.3); sequence
/// returns the entries in load order.
/// </summary>
public abstract class HashTable : ReadOnlyTable
{
    private readonly FrozenDictionary<string, string> _map;
    private readonly KeyValuePair<string, string>[] _entries;

    /// <param name="entries">Entries with keys already folded, duplicates already resolved.</param>
    protected HashTable(string name, IReadOnlyList<KeyValuePair<string, string>> entries, ILogger logger)
        : base(name, logger)
    {
        _entries = [.. entries];
        _map = _entries.ToFrozenDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
    }

    /// <summary>Number of entries (for diagnostics and tests).</summary>
    public int Count => _entries.Length;

    public override ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) =>
        ValueTask.FromResult(_map.TryGetValue(Octets.FoldAscii(key), out var value)
            ? LookupResult.Found(value)
            : LookupResult.NotFound);

    public override ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) =>
        ValueTask.FromResult(SequenceResult.Of(_entries));
}
