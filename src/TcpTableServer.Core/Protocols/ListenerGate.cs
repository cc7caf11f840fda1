using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Protocols;

/// <summary>
/// One listener's share of the <see cref="ConnectionGate"/>: its allow list, its count, its own limit and the
/// read watches of its connections (eviction candidates). Counts and lists are guarded by the
/// gate's lock. Connections find their listener through <see cref="AdmittedConnection"/>.
/// Evictions and refusals are logged through a <see cref="LogThrottle"/> each: the first in
/// full, then one summary line per window, so a flood costs a few lines, not one per connection.
/// </summary>
public sealed class ListenerGate
{
    private readonly LogThrottle _evictions;
    private readonly LogThrottle _refusals;
    private readonly ILogger _logger;
    private readonly WatchList _watches = new(static w => ref w.GateSlot);

    internal ListenerGate(ConnectionGate gate, string name, int? maxConnections, AccessGate? access, ILogger logger)
    {
        Gate = gate;
        Name = name;
        MaxConnections = maxConnections;
        Access = access;
        _logger = logger;
        _evictions = new LogThrottle(logger, LogLevel.Warning, $"{name}: idle connections closed at the connection limit");
        _refusals = new LogThrottle(logger, LogLevel.Warning, $"{name}: new connections refused at the connection limit");
    }

    public ConnectionGate Gate { get; }

    /// <summary>Names the listener in log lines ("socketmap inet:127.0.0.1:9000").</summary>
    public string Name { get; }

    /// <summary>This listener's own limit; null: only the process limit.</summary>
    public int? MaxConnections { get; }

    /// <summary>The listener's allow list, checked at accept before the limits; null: every client may connect.</summary>
    public AccessGate? Access { get; }

    internal int Limit => MaxConnections ?? int.MaxValue;

    /// <summary>Connections of this listener open now (under the gate's lock).</summary>
    internal int Count { get; set; }

    internal void Add(ReadWatch watch) => _watches.Add(watch);

    internal void Remove(ReadWatch watch) => _watches.Remove(watch);

    internal ReadWatch? LongestIdle()
    {
        ReadWatch? best = null;
        long bestSince = long.MaxValue;
        LongestIdle(ref best, ref bestSince);
        return best;
    }

    /// <summary>The connection waiting for input since the earliest time, if earlier than <paramref name="bestSince"/>.</summary>
    internal void LongestIdle(ref ReadWatch? best, ref long bestSince)
    {
        for (int i = 0; i < _watches.Count; i++)
        {
            if (_watches[i].IsIdleSince(out long since) && since < bestSince)
            {
                bestSince = since;
                best = _watches[i];
            }
        }
    }

    internal void LogEviction(ReadWatch victim, int connections)
    {
        if (!_evictions.Admit()) return;
        ProtocolLog.ConnectionEvicted(_logger, Name, connections, victim.ConnectionId, victim.IdleFor.TotalSeconds);
    }

    internal void LogRefusal(int connections)
    {
        if (!_refusals.Admit()) return;
        ProtocolLog.ConnectionRefused(_logger, Name, connections);
    }
}
