using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Protocols;

/// <summary>
/// Connection middleware in front of a listener's handler: a client whose address the
/// listener's <see cref="AllowList"/> does not allow is closed before a byte is read from it.
/// UNIX-socket clients pass (file permissions guard those sockets). Refusals are logged once
/// per address per minute, with the number refused since the last line, so a scan cannot
/// flood the log.
/// </summary>
public sealed class AccessGate(AllowList allow, string listener, ILogger logger, TimeProvider? time = null)
{
    /// <summary>The interval between two log lines about one address.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);

    /// <summary>More remembered addresses than this and the memory is dropped (a scan of many addresses).</summary>
    private const int MaxRemembered = 4096;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<IPAddress, Refusals> _refused = new();

    /// <summary>Whether a client at <paramref name="remote"/> may talk to this listener.</summary>
    public bool Admits(EndPoint? remote) =>
        remote is not IPEndPoint ip || allow.Allows(ip.Address);

    /// <summary>Wraps a listener's connection delegate (Kestrel <c>ListenOptions.Use</c>).</summary>
    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection =>
    {
        if (Admits(connection.RemoteEndPoint)) return next(connection);
        Refused(((IPEndPoint)connection.RemoteEndPoint!).Address);
        connection.Abort(new ConnectionAbortedException("client address not allowed"));
        return Task.CompletedTask;
    };

    private void Refused(IPAddress address)
    {
        if (_refused.Count > MaxRemembered) _refused.Clear();
        var r = _refused.GetOrAdd(address, static _ => new Refusals());
        long now = _time.GetTimestamp();
        long count;
        lock (r)
        {
            r.Count++;
            if (r.LastLogged != 0 && _time.GetElapsedTime(r.LastLogged, now) < LogInterval) return;
            r.LastLogged = now;
            count = r.Count;
            r.Count = 0;
        }
        logger.LogWarning("{Listener}: refused connection from {Address}: not in the allow list ({Allowed}){More}",
            listener, address, allow, count > 1 ? $"; {count} refused since the last report" : "");
    }

    private sealed class Refusals
    {
        public long LastLogged;
        public long Count;
    }
}
