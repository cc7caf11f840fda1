using System.Runtime.CompilerServices;
using TcpTableServer.Async;
using TcpTableServer.Explain;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// Several memcached nodes behind one map (POLICY <c>memcache_nodes</c>): each key lives on the
/// node libmemcached's ketama_weighted distribution picks (<see cref="KetamaRing"/>), plus with
/// <c>replicas = N</c> the next N-1 distinct nodes along the ring. The node array and the ring
/// are immutable; each node's health is its own (<see cref="MemcacheNode"/>).
/// <para>
/// An ejected node keeps its place on the ring: its keys are not moved to other nodes (as
/// libmemcached's auto-eject would) but answered as memcache_table(5) answers while its one
/// memcached is down: from the backup, or a temporary error without one. So every key is only
/// ever read from and written to its own nodes, and sees exactly the semantics of a single
/// memcached that is sometimes unreachable; moving keys would let a later ejection serve a
/// copy another node kept from an earlier one, a value no single-memcached map can answer.
/// </para>
/// Reads ask the key's nodes in ring order and take the first answer (found or not found);
/// writes go to every usable node of the key. A write that fails on one of them is a
/// temporary error (that node may still hold the old value).
/// </summary>
internal sealed class MemcacheNodeSet : IMemcacheStore
{
    private readonly MemcacheNode[] _nodes;
    private readonly KetamaRing _ring;

    public MemcacheNodeSet(MemcacheSettings settings, string table, MemcacheLog log, TimeProvider? time = null)
    {
        var specs = settings.Nodes!;
        _nodes = [.. specs.Select(s => new MemcacheNode(s, settings, table, log, time))];
        _ring = new KetamaRing([.. specs.Select(s => (s.KetamaName, s.Weight))], settings.Replicas);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    public async ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default)
    {
        int point = _ring.PointOf(key);
        for (int i = 0; i < _ring.Replicas; i++)
        {
            var node = _nodes[_ring.Owner(point, i)];
            if (!node.IsUsable)
            {
                LookupTrace.Current?.NodeSkipped(node.Spec.Endpoint.ToString(), "get");
                continue;
            }
            var result = await node.Client.GetAsync(key, ct).ConfigureAwait(false);
            if (!result.IsError) return result;
        }
        return LookupResult.TempError;
    }

    public ValueTask<UpdateResult> SetAsync(string key, string value, CancellationToken ct = default) =>
        WriteAsync(key, value, ct);

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        WriteAsync(key, null, ct);

    /// <summary>
    /// A set (value) or delete (null) on every usable node of the key, one after the other:
    /// a temporary error if any failed or none was usable, else success if any stored or
    /// deleted it, else the first node's answer (not stored, not found, data too long).
    /// </summary>
    private async ValueTask<UpdateResult> WriteAsync(string key, string? value, CancellationToken ct)
    {
        int point = _ring.PointOf(key);
        UpdateResult? first = null;
        bool failed = false, succeeded = false;
        for (int i = 0; i < _ring.Replicas; i++)
        {
            var node = _nodes[_ring.Owner(point, i)];
            if (!node.IsUsable)
            {
                LookupTrace.Current?.NodeSkipped(node.Spec.Endpoint.ToString(), value is null ? "delete" : "set");
                failed = true;
                continue;
            }
            var result = value is null
                ? await node.Client.DeleteAsync(key, ct).ConfigureAwait(false)
                : await node.Client.SetAsync(key, value, ct).ConfigureAwait(false);
            first ??= result;
            failed |= result.IsError;
            succeeded |= result.Status == UpdateStatus.Success;
        }
        if (failed || first is null) return UpdateResult.TempError;
        return succeeded ? UpdateResult.Success : first.Value;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) await node.Client.DisposeAsync().ConfigureAwait(false);
    }
}
