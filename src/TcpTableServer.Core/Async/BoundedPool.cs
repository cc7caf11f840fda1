namespace TcpTableServer.Async;

/// <summary>
/// A bounded stack of reusable objects shared by all threads (no allocation per
/// request on the hit path, also when many requests are in flight at once). Empty: the
/// caller allocates; full: a returned object is dropped for the GC. A short lock, not a
/// lock-free structure: the request path takes it once per rent and once per return.
/// </summary>
internal sealed class BoundedPool<T>(int capacity) where T : class
{
    private readonly T?[] _items = new T?[capacity];
    private readonly Lock _lock = new();
    private int _count;

    /// <summary>A pooled object, or null when the pool is empty.</summary>
    public T? TryRent()
    {
        lock (_lock)
        {
            if (_count == 0) return null;
            var item = _items[--_count];
            _items[_count] = null;
            return item;
        }
    }

    /// <summary>Keeps <paramref name="item"/> for a later <see cref="TryRent"/> unless the pool is full.</summary>
    public void Return(T item)
    {
        lock (_lock)
        {
            if (_count < _items.Length) _items[_count++] = item;
        }
    }
}
