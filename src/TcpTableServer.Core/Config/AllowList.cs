using System.Net;
using System.Net.Sockets;

namespace TcpTableServer.Config;

/// <summary>
/// Which client addresses may connect (<c>[server] allow</c>, narrowed per listener) or may
/// update (<c>put_allow</c>): networks in CIDR notation or single addresses, separated by
/// commas or whitespace (<c>10.0.0.0/8, 2001:db8::/32, 192.0.2.7</c>). Loopback (127.0.0.0/8,
/// ::1) is always allowed: the machine's own Postfix must never be locked out by a typo.
/// An IPv4 client seen on a dual-stack socket as ::ffff:a.b.c.d is matched as a.b.c.d.
/// </summary>
public sealed class AllowList
{
    /// <summary>Loopback only: the default of every listener.</summary>
    public static readonly AllowList LoopbackOnly = new([], "");

    private readonly IPNetwork[] _networks;

    private AllowList(IPNetwork[] networks, string text)
    {
        _networks = networks;
        Text = text;
    }

    /// <summary>The list as configured ("" for loopback only).</summary>
    public string Text { get; }

    /// <summary>True when nothing but loopback is allowed.</summary>
    public bool IsLoopbackOnly => _networks.Length == 0;

    /// <summary>Parses a list; throws <see cref="ConfigException"/> naming file, line and the bad item.</summary>
    public static AllowList Parse(string key, string value, string file, int line)
    {
        var networks = new List<IPNetwork>();
        foreach (string item in IniValues.SplitList(value))
        {
            if (item.Contains('/'))
            {
                int slash = item.IndexOf('/');
                if (!IPNetwork.TryParse(item, out var net) || !IsStrictAddress(item[..slash], out var given) || !given.Equals(net.BaseAddress))
                    throw new ConfigException($"{key}: bad network \"{item}\" (expected CIDR such as 10.0.0.0/8 or 2001:db8::/32, host bits zero)", file, line);
                networks.Add(net);
            }
            else if (IsStrictAddress(item, out var address))
            {
                address = Normalize(address);
                networks.Add(new IPNetwork(address, address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else
                throw new ConfigException($"{key}: bad address \"{item}\" (expected an IP address or a CIDR network; host names are not resolved)", file, line);
        }
        return new AllowList([.. networks], string.Join(", ", networks));
    }

    /// <summary>This list's networks followed by <paramref name="other"/>'s (a listener's repeated <c>allow=</c> options).</summary>
    public AllowList Plus(AllowList other) =>
        new([.. _networks, .. other._networks], string.Join(", ", [.. _networks, .. other._networks]));

    /// <summary>Whether <paramref name="address"/> may connect: loopback, or inside one of the networks.</summary>
    public bool Allows(IPAddress address)
    {
        address = Normalize(address);
        if (IPAddress.IsLoopback(address)) return true;
        foreach (var net in _networks)
            if (net.Contains(address)) return true;
        return false;
    }

    /// <summary>Whether every address of <paramref name="network"/> is allowed (used to check that a listener only narrows).</summary>
    public bool Covers(IPNetwork network)
    {
        foreach (var net in _networks)
            if (net.BaseAddress.AddressFamily == network.BaseAddress.AddressFamily
                && net.PrefixLength <= network.PrefixLength && net.Contains(network.BaseAddress))
                return true;
        return IsLoopbackNetwork(network);
    }

    /// <summary>The networks of this list (without the implicit loopback).</summary>
    public IReadOnlyList<IPNetwork> Networks => _networks;

    private static bool IsLoopbackNetwork(IPNetwork n) =>
        n.BaseAddress.AddressFamily == AddressFamily.InterNetwork
            ? n.PrefixLength >= 8 && n.BaseAddress.GetAddressBytes()[0] == 127
            : n.PrefixLength == 128 && n.BaseAddress.Equals(IPAddress.IPv6Loopback);

    /// <summary>
    /// A literal address as written in full: IPv4 as four dotted decimals (IPAddress.Parse also
    /// takes "10.0.0" and "10", which in an access list are typos), IPv6 without a zone.
    /// </summary>
    private static bool IsStrictAddress(string s, out IPAddress address)
    {
        address = IPAddress.None;
        if (s.Contains('%')) return false;
        if (!s.Contains(':') && s.Split('.').Length != 4) return false;
        if (!IPAddress.TryParse(s, out var parsed)) return false;
        address = parsed;
        return true;
    }

    private static IPAddress Normalize(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    public override string ToString() => _networks.Length == 0 ? "loopback only" : "loopback, " + Text;
}
