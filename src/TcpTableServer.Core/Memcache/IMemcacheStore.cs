using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// Where a memcache table keeps its cache: one memcached (<see cref="MemcachedClient"/>, the
/// memcache_table(5) case) or several on a ketama ring (<see cref="MemcacheNodeSet"/>).
/// Keys are the wire keys (after key_format and key_digest). Failures are results.
/// </summary>
internal interface IMemcacheStore : IAsyncDisposable
{
    ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default);
    ValueTask<UpdateResult> SetAsync(string key, string value, CancellationToken ct = default);
    ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default);
}
