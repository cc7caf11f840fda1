using System.Net;

namespace TcpTableServer.Config;

/// <summary>
/// Inet and Unix: an address. Systemd (listeners only): a socket passed by systemd socket
/// activation, named by its <c>FileDescriptorName=</c> (LISTEN_FDNAMES); the name is in
/// <see cref="EndpointSpec.Path"/>.
/// </summary>
public enum EndpointKind { Inet, Unix, Systemd }

/// <summary>
/// A Postfix-style endpoint: "inet:host:port", "inet:[ipv6]:port", "unix:/path"
/// ("local:/path" is a synonym). Host/port split as Postfix's host_port.c (spec 1.1).
/// A listener may also be "systemd:NAME" (<see cref="EndpointKind.Systemd"/>).
/// </summary>
public sealed record EndpointSpec(EndpointKind Kind, string Host, string Port, string Path)
{
    /// <summary>Listeners only: this listener's own connection limit (<c>max_connections=N</c> after the endpoint); null: none.</summary>
    public int? MaxConnections { get; init; }

    /// <summary>
    /// Listeners only: the listener's own <c>allow=NETWORK</c> options as written (comma-joined);
    /// null: none of its own. The loader leaves it as is and resolves <see cref="Allow"/>.
    /// </summary>
    public string? AllowText { get; init; }

    /// <summary>
    /// Listeners only: the listener's own <c>allow=</c> networks as parsed, until the loader
    /// sets the effective list (the listener's, checked to narrow <c>[server] allow</c>, or else
    /// the server's); loopback only when null.
    /// </summary>
    public AllowList? Allow { get; init; }

    /// <summary>UNIX listeners only: the socket file's permissions (<c>mode=0660</c>); null: as the umask leaves them.</summary>
    public UnixFileMode? Mode { get; init; }

    /// <summary>UNIX listeners only: the socket file's owner (<c>owner=NAME</c> or a uid); null: the server's user.</summary>
    public string? Owner { get; init; }

    /// <summary>UNIX listeners only: the socket file's group (<c>group=postfix</c> or a gid); null: the server's group.</summary>
    public string? Group { get; init; }

    /// <summary>Listeners only: the INI file and line that name this listener (errors found when it opens cite them).</summary>
    public string? File { get; init; }

    /// <summary>Listeners only: see <see cref="File"/>; 0: unknown.</summary>
    public int Line { get; init; }

    /// <summary>Equality as written in the configuration: the resolved <see cref="Allow"/> follows from it.</summary>
    public bool Equals(EndpointSpec? other) =>
        other is not null && Kind == other.Kind && Host == other.Host && Port == other.Port && Path == other.Path
        && MaxConnections == other.MaxConnections && AllowText == other.AllowText
        && Mode == other.Mode && Owner == other.Owner && Group == other.Group;

    public override int GetHashCode() => HashCode.Combine(Kind, Host, Port, Path, MaxConnections, AllowText, Mode, Group);

    /// <summary>
    /// Whether only this machine can connect: a UNIX socket, or an inet listener on a loopback
    /// address or "localhost". A systemd: socket's address is known only once it is passed: the
    /// listener checks it then (ListenerSet), so here it counts as loopback.
    /// </summary>
    public bool IsLoopbackOnly => Kind is EndpointKind.Unix or EndpointKind.Systemd || Host == "localhost"
        || (IPAddress.TryParse(Host, out var ip) && IPAddress.IsLoopback(ip));

    public override string ToString() =>
        Kind == EndpointKind.Unix ? $"unix:{Path}"
        : Kind == EndpointKind.Systemd ? $"systemd:{Path}"
        : Host.Contains(':') ? $"inet:[{Host}]:{Port}" : $"inet:{Host}:{Port}";

    /// <summary>"host:port" (or the socket path) as Postfix prints it in "connect to ..." warnings.</summary>
    public string Display => Kind == EndpointKind.Unix ? Path
        : Kind == EndpointKind.Systemd ? $"systemd:{Path}"
        : Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    /// <summary>Parses an endpoint; returns null with an error text when the syntax is wrong.</summary>
    public static EndpointSpec? TryParse(string text, out string? error)
    {
        error = null;
        int colon = text.IndexOf(':');
        if (colon < 0)
        {
            error = $"missing transport (inet: or unix:) in \"{text}\"";
            return null;
        }
        string transport = text[..colon], rest = text[(colon + 1)..];
        switch (transport)
        {
            case "unix":
            case "local":
                if (rest.Length == 0) { error = $"missing socket path in \"{text}\""; return null; }
                return new EndpointSpec(EndpointKind.Unix, "", "", rest);
            case "inet":
                if (!SplitHostPort(rest, out var host, out var port, out error)) return null;
                return new EndpointSpec(EndpointKind.Inet, host, port, "");
            default:
                error = $"unknown transport \"{transport}\" in \"{text}\" (expected inet: or unix:)";
                return null;
        }
    }

    /// <summary>
    /// host_port.c: "[host]" or "[host]:port"; otherwise split at the last colon; an empty
    /// host is "localhost"; no colon at all means the text is the port.
    /// </summary>
    public static bool SplitHostPort(string s, out string host, out string port, out string? error)
    {
        error = null;
        host = "localhost";
        port = "";
        if (s.StartsWith('['))
        {
            int close = s.IndexOf(']');
            if (close < 0) { error = $"missing \"]\" in \"{s}\""; return false; }
            host = s[1..close];
            if (host.StartsWith("ipv6:", StringComparison.OrdinalIgnoreCase)) host = host[5..];
            string after = s[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':') { error = $"garbage after \"]\" in \"{s}\""; return false; }
                port = after[1..];
            }
        }
        else
        {
            int last = s.LastIndexOf(':');
            if (last < 0) port = s;
            else
            {
                if (last > 0) host = s[..last];
                port = s[(last + 1)..];
            }
        }
        if (port.Length == 0) { error = $"missing port in \"{s}\""; return false; }
        return true;
    }

    /// <summary>The port as a number (numeric or a well-known service name).</summary>
    public int PortNumber => int.TryParse(Port, out var p) ? p : Port switch
    {
        "memcache" or "memcached" => 11211,
        "smtp" => 25,
        _ => -1,
    };

    /// <summary>Resolves the host for a listener or client connect.</summary>
    public async Task<IPAddress[]> ResolveAsync(CancellationToken ct)
    {
        if (IPAddress.TryParse(Host, out var ip)) return [ip];
        return await Dns.GetHostAddressesAsync(Host, ct).ConfigureAwait(false);
    }
}
