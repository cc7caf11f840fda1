using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Protocols;

/// <summary>
/// A listener's allow list at accept (<see cref="GatedListenerFactory"/>): a client whose
/// address the listener's <see cref="AllowList"/> does not allow is closed before it counts
/// against a connection limit and before a byte is read from it, so it can neither take a
/// place nor make room by closing an idle allowed connection. UNIX-socket clients pass (file
/// permissions guard those sockets). Refusals are logged once per address per minute, with
/// the number refused since the last line, so a scan cannot flood the log.
/// </summary>
public sealed class AccessGate(AllowList allow, string listener, ILogger logger, TimeProvider? time = null)
{
    /// <summary>The interval between two log lines about one address.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromMinutes(1);

    /// <summary>More remembered addresses than this and the memory is dropped (a scan of many addresses).</summary>
    private const int MaxRemembered = 4096;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<IPAddress, Refusals> _refused = new();
    private int _remembered;

    /// <summary>Whether a client at <paramref name="remote"/> may talk to this listener.</summary>
    public bool Admits(EndPoint? remote) =>
        remote is not IPEndPoint ip || allow.Allows(ip.Address);

    /// <summary>
    /// <see cref="Admits"/>, logging a refusal (once per address per minute); the caller closes
    /// a refused connection at once.
    /// </summary>
    public bool Check(EndPoint? remote)
    {
        if (Admits(remote)) return true;
        Refused(((IPEndPoint)remote!).Address);
        return false;
    }

    private void Refused(IPAddress address)
    {
        if (!_refused.TryGetValue(address, out var r))
        {
            // Counted here, not with ConcurrentDictionary.Count (which takes every bucket lock),
            // since refusals are the flood path.
            var fresh = new Refusals();
            r = _refused.GetOrAdd(address, fresh);
            if (ReferenceEquals(r, fresh) && Interlocked.Increment(ref _remembered) > MaxRemembered)
            {
                _refused.Clear();
                Volatile.Write(ref _remembered, 0);
            }
        }
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
