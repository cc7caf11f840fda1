using System.Net;
using System.Net.Sockets;
using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>
/// Sockets passed by systemd socket activation (sd_listen_fds(3)): with <c>LISTEN_PID</c> equal
/// to this process, descriptors 3 .. 3 + <c>LISTEN_FDS</c> - 1 are listening sockets, named by
/// <c>LISTEN_FDNAMES</c> (colon-separated; systemd's <c>FileDescriptorName=</c>, else the
/// unit's name). Each is matched to the INI listener that names it, <c>systemd:NAME</c>, or that
/// has the same address (TCP: address and port, "localhost" meaning either loopback; UNIX: the
/// path); a passed socket that no listener names is an error at start, an address listener with
/// no passed socket binds as usual (a <c>systemd:NAME</c> listener has nothing to bind: an error).
/// A listener on a passed socket stays until the process ends: a reload that would close it is
/// refused (<see cref="ListenerSet.PassedClosing"/>), as systemd's socket cannot be bound again.
/// </summary>
public sealed class SystemdSockets
{
    /// <summary>The first passed descriptor (SD_LISTEN_FDS_START).</summary>
    private const int First = 3;

    public sealed record Passed(int Fd, string Name, EndPoint Address)
    {
        public bool Taken { get; set; }
        public override string ToString() => $"{Name} (fd {Fd}, {Describe(Address)})";
    }

    private readonly List<Passed> _sockets;

    private SystemdSockets(List<Passed> sockets) => _sockets = sockets;

    /// <summary>The sockets passed to this process (none when not socket-activated).</summary>
    public static SystemdSockets FromEnvironment()
    {
        var sockets = new List<Passed>();
        if (!int.TryParse(Environment.GetEnvironmentVariable("LISTEN_PID"), out int pid) || pid != Environment.ProcessId
            || !int.TryParse(Environment.GetEnvironmentVariable("LISTEN_FDS"), out int count) || count <= 0)
            return new SystemdSockets(sockets);
        string[] names = (Environment.GetEnvironmentVariable("LISTEN_FDNAMES") ?? "").Split(':');
        for (int i = 0; i < count; i++)
        {
            int fd = First + i;
            using var probe = new Socket(new SafeSocketHandle(fd, ownsHandle: false));
            var address = probe.LocalEndPoint ?? throw new ConfigException($"systemd passed descriptor {fd}, which is not a bound socket");
            sockets.Add(new Passed(fd, i < names.Length && names[i].Length > 0 ? names[i] : $"fd{fd}", address));
        }
        // Not for our children (none expected), as sd_listen_fds(unset_environment = 1).
        Environment.SetEnvironmentVariable("LISTEN_PID", null);
        Environment.SetEnvironmentVariable("LISTEN_FDS", null);
        Environment.SetEnvironmentVariable("LISTEN_FDNAMES", null);
        return new SystemdSockets(sockets);
    }

    /// <summary>
    /// The passed sockets not yet taken that <paramref name="ep"/> names (<c>systemd:NAME</c>:
    /// those named NAME) or that listen where it says (each taken once).
    /// </summary>
    public List<Passed> Take(EndpointSpec ep)
    {
        var found = _sockets.Where(s => !s.Taken && (ep.Kind == EndpointKind.Systemd ? s.Name == ep.Path : Matches(s.Address, ep))).ToList();
        foreach (var s in found) s.Taken = true;
        return found;
    }

    /// <summary>Passed sockets that no listener took (an error at start).</summary>
    public IEnumerable<Passed> Untaken => _sockets.Where(s => !s.Taken);

    /// <summary>The names of the passed sockets, for messages ("none" when none was passed).</summary>
    public string Names => _sockets.Count == 0 ? "none" : string.Join(", ", _sockets.Select(s => s.ToString()));

    /// <summary>Whether only this machine can reach <paramref name="s"/>: a UNIX socket or a loopback address.</summary>
    public static bool IsLoopbackOnly(Passed s) =>
        s.Address is UnixDomainSocketEndPoint || (s.Address is IPEndPoint ip && IPAddress.IsLoopback(Normalize(ip.Address)));

    private static bool Matches(EndPoint address, EndpointSpec ep)
    {
        switch (address)
        {
            case UnixDomainSocketEndPoint unix:
                return ep.Kind == EndpointKind.Unix && Path.GetFullPath(unix.ToString()) == Path.GetFullPath(ep.Path);
            case IPEndPoint ip:
                if (ep.Kind != EndpointKind.Inet || ip.Port != ep.PortNumber) return false;
                if (ep.Host == "localhost") return IPAddress.IsLoopback(ip.Address);
                return IPAddress.TryParse(ep.Host, out var want) && Normalize(want).Equals(Normalize(ip.Address));
            default:
                return false;
        }
    }

    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private static string Describe(EndPoint address) => address switch
    {
        UnixDomainSocketEndPoint u => $"unix:{u}",
        IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"inet:[{ip.Address}]:{ip.Port}",
        IPEndPoint ip => $"inet:{ip.Address}:{ip.Port}",
        _ => address.ToString() ?? "?",
    };
}
