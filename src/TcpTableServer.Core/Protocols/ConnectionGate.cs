using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Protocols;

/// <summary>How <see cref="ConnectionGate.TryAdmit"/> decided on a new connection.</summary>
internal enum Admission : byte
{
    /// <summary>Below every limit.</summary>
    Admitted,
    /// <summary>At a limit: the longest idle connection was chosen to close (the returned victim).</summary>
    Evicting,
    /// <summary>At a limit with no idle connection to close: close the new one at once.</summary>
    Refused,
}

/// <summary>
/// Connection limits of the whole process and of each listener. A connection counts from
/// its accept until its socket is closed (<see cref="Release"/>). At a limit, the connection
/// that has waited for input the longest (its <see cref="ReadWatch"/> is armed; one in the
/// middle of a request never is) is closed to make room; only when none waits for input is
/// the new connection refused. Evicted connections still hold their socket until their loop
/// has ended, so the count may pass the limit by at most <see cref="EvictionSlack"/> (the fd
/// reserve of <see cref="FdLimit"/> covers it). Accepts and connection ends take one lock;
/// requests never do.
/// </summary>
public sealed class ConnectionGate
{
    /// <summary>How far evictions still closing may take the count past a limit.</summary>
    public const int EvictionSlack = 64;

    private readonly Lock _lock = new();
    private readonly List<ListenerGate> _listeners = [];
    private readonly ILogger _logger;
    private int _count;

    /// <param name="maxConnections">the process-wide limit (at least 1)</param>
    public ConnectionGate(int maxConnections, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        MaxConnections = maxConnections;
        _logger = logger;
    }

    public int MaxConnections { get; }

    /// <summary>Connections open now (admitted and not yet closed).</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>
    /// Registers a listener; <paramref name="maxConnections"/> null: only the process limit applies;
    /// <paramref name="access"/> null: no address check.
    /// </summary>
    public ListenerGate AddListener(string name, int? maxConnections, AccessGate? access = null)
    {
        var listener = new ListenerGate(this, name, maxConnections, access, _logger);
        lock (_lock) _listeners.Add(listener);
        return listener;
    }

    /// <summary>
    /// Unregisters a listener that has stopped (a reload removed it): its connections no longer
    /// count as eviction candidates; any still closing give their places back as usual.
    /// </summary>
    public void RemoveListener(ListenerGate listener)
    {
        lock (_lock) _listeners.Remove(listener);
    }

    /// <summary>
    /// Decides on a connection just accepted by <paramref name="listener"/>. Counts it unless
    /// refused. With <see cref="Admission.Evicting"/> the caller cancels <paramref name="victim"/>'s
    /// read (outside this lock: with inline scheduling its loop ends on the caller's thread).
    /// </summary>
    internal Admission TryAdmit(ListenerGate listener, out ReadWatch? victim)
    {
        victim = null;
        lock (_lock)
        {
            bool listenerFull = listener.Count >= listener.Limit;
            bool processFull = _count >= MaxConnections;
            if (!listenerFull && !processFull)
            {
                _count++;
                listener.Count++;
                return Admission.Admitted;
            }
            bool slackLeft = (!listenerFull || listener.Count < listener.Limit + EvictionSlack)
                             && (!processFull || _count < MaxConnections + EvictionSlack);
            if (slackLeft)
            {
                // A full listener makes room among its own connections; otherwise the longest
                // idle connection of the whole process goes.
                victim = listenerFull ? listener.LongestIdle() : LongestIdle();
            }
            if (victim is null) return Admission.Refused;
            victim.MarkEvicted();
            _count++;
            listener.Count++;
            return Admission.Evicting;
        }
    }

    /// <summary>A connection admitted by <paramref name="listener"/> closed its socket.</summary>
    internal void Release(ListenerGate listener)
    {
        lock (_lock)
        {
            _count--;
            listener.Count--;
        }
    }

    /// <summary>Adds or removes the read watch of a connection (eviction candidates), under the gate's lock.</summary>
    internal void Track(ListenerGate listener, ReadWatch watch, bool add)
    {
        lock (_lock)
        {
            if (add) listener.Add(watch);
            else listener.Remove(watch);
        }
    }

    /// <summary>Each listener's name and open connections now (the metrics' connection gauge).</summary>
    public List<(string Listener, int Connections)> ListenerCounts()
    {
        lock (_lock) return [.. _listeners.Select(l => (l.Name, l.Count))];
    }

    private ReadWatch? LongestIdle()
    {
        ReadWatch? best = null;
        long bestSince = long.MaxValue;
        foreach (var l in _listeners) l.LongestIdle(ref best, ref bestSince);
        return best;
    }
}
