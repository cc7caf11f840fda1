using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Logging;

namespace TcpTableServer.Protocols;

/// <summary>
/// The protocol-violation warnings of one connection handler, rate limited per listener and
/// cause with a <see cref="LogThrottle"/> each: the first malformed connection is logged in
/// full, then one summary line per window with the count ("socketmap inet:127.0.0.1:9000:
/// request too large: 3812 more in the last 10 s"), so a fuzzer or a broken client cannot
/// flood the log. Causes are the codecs' fixed texts, listeners few: the set stays small.
/// </summary>
internal sealed class ProtocolWarnings(ILogger logger, string protocol, TimeProvider? time)
{
    private readonly ConcurrentDictionary<(string Listener, string Reason), LogThrottle> _throttles = new();

    public void Violation(ConnectionContext connection, string reason)
    {
        string listener = (connection as AdmittedConnection)?.Listener.Name
                          ?? $"{protocol} {connection.LocalEndPoint?.ToString() ?? "listener"}";
        var throttle = _throttles.GetOrAdd((listener, reason), static (k, s) =>
            new LogThrottle(s.logger, LogLevel.Warning, $"{k.Listener}: {k.Reason}: connections closed without reply", time: s.time),
            (logger, time));
        if (throttle.Admit()) ProtocolLog.ProtocolViolation(logger, connection.ConnectionId, reason);
    }
}
