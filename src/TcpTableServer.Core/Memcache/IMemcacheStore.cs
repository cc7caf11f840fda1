using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// Where a memcache table keeps its cache: one memcached (<see cref="MemcachedClient"/>, the
/// memcache_table(5) case) or several on a ketama ring (<see cref="MemcacheNodeSet"/>).
/// Keys are the wire keys (after key_format and key_digest). Failures are results.
/// </summary>
internal interface IMemcacheStore : IAsyncDisposable
{
    /// <summary>
    /// The store a map's <paramref name="settings"/> name: its <c>memcache_nodes</c> on a ketama
    /// ring when there are several, else its one <c>memcache</c>. Every writer and reader of a
    /// map opens it here, so a key goes to the node its lookups ask.
    /// </summary>
    static IMemcacheStore Open(MemcacheSettings settings, string tableName, MemcacheLog log) =>
        settings.IsMultiNode ? new MemcacheNodeSet(settings, tableName, log) : new MemcachedClient(settings, tableName, log);

    ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default);
    ValueTask<UpdateResult> SetAsync(string key, string value, CancellationToken ct = default);
    ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default);
}
