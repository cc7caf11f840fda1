using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// A map's <c>partial_keys</c> option and the Postfix parameters that steer the search, under
/// Postfix's own names and with Postfix's defaults (postconf -d), read from the INI map
/// section (never the .cf file, which Postfix reads too):
/// <c>recipient_delimiter</c> (empty), <c>parent_domain_matches_subdomains</c> (Postfix's
/// list; only whether transport_maps or smtpd_access_maps is in it matters),
/// <c>propagate_unmatched_extensions</c> (canonical, virtual), <c>owner_request_special</c>
/// (yes), <c>double_bounce_sender</c> (double-bounce), and for the local-domain test of
/// virtual and canonical <c>myhostname</c>, <c>mydomain</c>, <c>myorigin</c>,
/// <c>mydestination</c>, <c>inet_interfaces</c>, <c>proxy_interfaces</c>.
/// </summary>
public sealed class PartialKeyOptions
{
    /// <summary>The option that turns the search on.</summary>
    public const string OptionName = "partial_keys";

    /// <summary>Every option name this class reads besides <see cref="OptionName"/>.</summary>
    public static readonly string[] ParameterNames =
    [
        "recipient_delimiter", "parent_domain_matches_subdomains", "propagate_unmatched_extensions",
        "owner_request_special", "double_bounce_sender",
        "myhostname", "mydomain", "myorigin", "mydestination", "inet_interfaces", "proxy_interfaces",
    ];

    public const string DefaultParentDomainMatches =
        "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps";

    private static readonly string[] ExtensionClasses = ["canonical", "virtual", "alias", "forward", "include", "generic"];

    public PartialKeyUse Use { get; }
    public AddressExtension Extension { get; }
    public bool ParentMatchesSubdomains { get; }
    public bool Propagate { get; }
    public LocalDomains Local { get; }

    /// <summary>The search for this map.</summary>
    public IPartialKeySearch Search { get; }

    private PartialKeyOptions(PartialKeyUse use, AddressExtension extension, bool parents, bool propagate, LocalDomains local)
    {
        Use = use;
        Extension = extension;
        ParentMatchesSubdomains = parents;
        Propagate = propagate;
        Local = local;
        Search = use switch
        {
            PartialKeyUse.Transport => new TransportSearch(extension, parents),
            PartialKeyUse.Access => new AccessSearch(extension, parents),
            _ => new AddressMapSearch(use, extension, local, propagate),
        };
    }

    /// <summary>The Postfix parameter whose presence in parent_domain_matches_subdomains matters for a use.</summary>
    public static string? ParentParameter(PartialKeyUse use) => use switch
    {
        PartialKeyUse.Transport => "transport_maps",
        PartialKeyUse.Access => "smtpd_access_maps",
        _ => null,
    };

    /// <summary>
    /// Reads the options (values as octet strings, like every map parameter). Throws
    /// <see cref="ConfigException"/> naming file, line and option.
    /// </summary>
    public static PartialKeyOptions Parse(ConfigValue partialKeys, IReadOnlyDictionary<string, ConfigValue> p)
    {
        var use = partialKeys.Value.Trim().ToLowerInvariant() switch
        {
            "virtual" => PartialKeyUse.Virtual,
            "canonical" => PartialKeyUse.Canonical,
            "transport" => PartialKeyUse.Transport,
            "access" => PartialKeyUse.Access,
            _ => throw new ConfigException($"unknown use \"{partialKeys.Value}\" (expected virtual, canonical, transport or access)", partialKeys),
        };
        string delimiters = Get(p, "recipient_delimiter", "");
        bool ownerRequest = Bool(p, "owner_request_special", true);
        string doubleBounce = Get(p, "double_bounce_sender", "double-bounce");

        bool parents = false;
        if (ParentParameter(use) is { } parameter)
            parents = List(Get(p, "parent_domain_matches_subdomains", DefaultParentDomainMatches))
                .Contains(parameter, StringComparer.OrdinalIgnoreCase);

        var propagateList = List(Get(p, "propagate_unmatched_extensions", "canonical, virtual"));
        foreach (string c in propagateList)
            if (!ExtensionClasses.Contains(c, StringComparer.OrdinalIgnoreCase))
                throw new ConfigException($"unknown class \"{c}\" (expected some of {string.Join(", ", ExtensionClasses)})", p["propagate_unmatched_extensions"]);
        bool propagate = use is PartialKeyUse.Virtual or PartialKeyUse.Canonical
            && propagateList.Contains(use == PartialKeyUse.Virtual ? "virtual" : "canonical", StringComparer.OrdinalIgnoreCase);

        var local = use is PartialKeyUse.Virtual or PartialKeyUse.Canonical ? ReadLocal(p) : new LocalDomains("", [], []);
        return new PartialKeyOptions(use, new AddressExtension(delimiters, ownerRequest, doubleBounce), parents, propagate, local);
    }

    /// <summary>One line per setting, for query --explain and the map's fingerprint.</summary>
    public string Describe()
    {
        var o = new StringBuilder();
        o.Append("partial_keys = ").Append(Use.ToString().ToLowerInvariant())
         .Append(", recipient_delimiter = ").Append(Octets.ToDisplay(Extension.Delimiters))
         .Append(", owner_request_special = ").Append(Extension.OwnerRequestSpecial ? "yes" : "no")
         .Append(", double_bounce_sender = ").Append(Octets.ToDisplay(Extension.DoubleBounceSender));
        if (ParentParameter(Use) is { } parameter)
            o.Append(", ").Append(parameter).Append(ParentMatchesSubdomains ? " in" : " not in").Append(" parent_domain_matches_subdomains");
        if (Use is PartialKeyUse.Virtual or PartialKeyUse.Canonical)
            o.Append(", propagate extension = ").Append(Propagate ? "yes" : "no")
             .Append(", myorigin = ").Append(Octets.ToDisplay(Local.Myorigin))
             .Append(", mydestination = ").Append(Octets.ToDisplay(string.Join(", ", Local.Mydestination)))
             .Append(", interfaces = ").Append(string.Join(", ", Local.Interfaces.Order(Comparer<IPAddress>.Create(
                 (a, b) => string.CompareOrdinal(a.ToString(), b.ToString())))));
        return o.ToString();
    }

    private static LocalDomains ReadLocal(IReadOnlyDictionary<string, ConfigValue> p)
    {
        var expand = new HostParameters(p);
        string myorigin = expand.Get("myorigin");
        var destinations = new List<DestinationPattern>();
        foreach (string entry in List(expand.Get("mydestination")))
        {
            bool negated = entry.StartsWith('!');
            string name = negated ? entry[1..] : entry;
            if (name.StartsWith('/') || (name.Contains(':') && !name.StartsWith('[')))
                throw new ConfigException($"\"{Octets.ToDisplay(entry)}\": tables and files in mydestination are not supported here; list the domain names", p["mydestination"]);
            destinations.Add(new DestinationPattern(name, negated));
        }
        var interfaces = new HashSet<IPAddress>();
        Interfaces(expand.Get("inet_interfaces"), allowAll: true, interfaces, p.GetValueOrDefault("inet_interfaces"));
        Interfaces(expand.Get("proxy_interfaces"), allowAll: false, interfaces, p.GetValueOrDefault("proxy_interfaces"));
        return new LocalDomains(myorigin, destinations, interfaces);
    }

    /// <summary>inet_interfaces / proxy_interfaces: all, loopback-only, addresses or host names.</summary>
    private static void Interfaces(string value, bool allowAll, HashSet<IPAddress> into, ConfigValue? at)
    {
        foreach (string entry in List(value))
        {
            if (allowAll && entry.Equals("all", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                    foreach (var a in nic.GetIPProperties().UnicastAddresses)
                        into.Add(Plain(a.Address));
                continue;
            }
            if (allowAll && entry.Equals("loopback-only", StringComparison.OrdinalIgnoreCase))
            {
                into.Add(IPAddress.Loopback);
                into.Add(IPAddress.IPv6Loopback);
                continue;
            }
            string host = entry.StartsWith('[') && entry.EndsWith(']') ? entry[1..^1] : entry;
            if (IPAddress.TryParse(host, out var ip))
            {
                into.Add(Plain(ip));
                continue;
            }
            try
            {
                foreach (var a in Dns.GetHostAddresses(host)) into.Add(Plain(a));
            }
            catch (SocketException e)
            {
                string why = $"cannot resolve \"{entry}\": {e.Message}";
                throw at is null ? new ConfigException(why) : new ConfigException(why, at);
            }
        }
    }

    private static IPAddress Plain(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6) return a.MapToIPv4();
        if (a.AddressFamily == AddressFamily.InterNetworkV6 && a.ScopeId != 0) return new IPAddress(a.GetAddressBytes());
        return a;
    }

    private static string Get(IReadOnlyDictionary<string, ConfigValue> p, string name, string def) =>
        p.TryGetValue(name, out var v) ? v.Value : def;

    private static bool Bool(IReadOnlyDictionary<string, ConfigValue> p, string name, bool def)
    {
        if (!p.TryGetValue(name, out var v)) return def;
        if (v.Value.Equals("yes", StringComparison.OrdinalIgnoreCase)) return true;
        if (v.Value.Equals("no", StringComparison.OrdinalIgnoreCase)) return false;
        throw new ConfigException($"bad boolean value \"{v.Value}\" (expected yes or no)", v);
    }

    /// <summary>A Postfix list: separated by commas and/or whitespace.</summary>
    private static string[] List(string value) =>
        value.Split([',', ' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries);
}
