namespace TcpTableServer.Async;

/// <summary>
/// Reference counts that reach zero once: the last release closes the object, and no
/// reference may be taken after that (a reader that lost the race takes the newer object).
/// </summary>
public static class RefCount
{
    /// <summary>Adds one to <paramref name="count"/> unless it is already zero; false then.</summary>
    public static bool TryIncrement(ref int count)
    {
        int n = Volatile.Read(ref count);
        while (n > 0)
        {
            int seen = Interlocked.CompareExchange(ref count, n + 1, n);
            if (seen == n) return true;
            n = seen;
        }
        return false;
    }
}
