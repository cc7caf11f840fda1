namespace TcpTableServer.Protocols;

/// <summary>
/// Gives the memory of a burst back to the system once the burst is over. What thousands of
/// connections leave behind (buffers dropped by <see cref="ReturningMemoryPool"/>, the objects
/// of closed connections) is garbage in the oldest generation, and a server that then goes
/// quiet allocates almost nothing, so no collection would ever free it: RSS stays at its
/// peak (docs/benchmarks.md, "measurements behind comments"). Every <see cref="Period"/> this checks
/// whether the managed heap grew by <see cref="Growth"/> since the last trim (or
/// <see cref="ClosedConnections"/> connections closed, leaving a few KB of garbage each, or the
/// transport dropped <see cref="Growth"/> of large receive buffers) while the
/// process allocated less than <see cref="QuietAllocation"/> in the period (the burst is
/// over; the hit path allocates nothing), and then runs one aggressive full collection,
/// which compacts and decommits. A busy server collects on its own and is left alone.
/// The growth threshold is 16 MiB because the lean transport's connections hold little: when
/// the collections during a burst had already taken its garbage, a threshold twice as high was
/// not reached, no trim ran and RSS stayed above what a trim gives.
/// </summary>
public static class MemoryTrim
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    public const long Growth = 16L * 1024 * 1024;
    public const long QuietAllocation = 8L * 1024 * 1024;
    public const int ClosedConnections = 5000;

    private static Timer? _timer;
    private static long _heapAfterTrim;
    private static long _allocated;
    private static int _closed;
    private static long _dropped;

    /// <summary>A connection closed (its objects are garbage now).</summary>
    public static void ConnectionClosed() => Interlocked.Increment(ref _closed);

    /// <summary>
    /// A buffer of <paramref name="bytes"/> was dropped for the GC (a large request's receive
    /// buffer): garbage the heap-growth test misses when the last trim ran while it was live.
    /// </summary>
    public static void Dropped(long bytes) => Interlocked.Add(ref _dropped, bytes);

    /// <summary>Starts the periodic check (once per process).</summary>
    public static void Start()
    {
        if (Interlocked.CompareExchange(ref _timer, new Timer(static _ => Check(), null, Timeout.Infinite, Timeout.Infinite), null) is not null)
            return;
        _heapAfterTrim = GC.GetTotalMemory(false);
        _allocated = GC.GetTotalAllocatedBytes();
        _timer.Change(Period, Period);
    }

    private static void Check()
    {
        long allocated = GC.GetTotalAllocatedBytes();
        long inPeriod = allocated - _allocated;
        _allocated = allocated;
        long heap = GC.GetTotalMemory(false);
        if (heap < _heapAfterTrim) _heapAfterTrim = heap; // collected on its own
        bool grown = heap - _heapAfterTrim >= Growth || Volatile.Read(ref _closed) >= ClosedConnections
                     || Volatile.Read(ref _dropped) >= Growth;
        if (!grown || inPeriod >= QuietAllocation) return;
        Interlocked.Exchange(ref _closed, 0);
        Interlocked.Exchange(ref _dropped, 0);
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        _heapAfterTrim = GC.GetTotalMemory(false);
        _allocated = GC.GetTotalAllocatedBytes();
    }
}
