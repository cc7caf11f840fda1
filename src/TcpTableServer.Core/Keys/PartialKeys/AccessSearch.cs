using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// smtpd access maps (check_*_access with a hash: table, smtpd/smtpd_check.c). Postfix sends
/// a socketmap:/tcp: table one full key per check, so the order is chosen by the key's shape:
/// <list type="bullet">
/// <item>an address (contains '@'): check_mail_access, i.e. mail_addr_find_strategy with
/// MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN | MA_FIND_LOCALPART_AT and PDMS/PDDMDS:
/// user+ext@domain, user@domain, domain, parent domains, user+ext@, user@;</item>
/// <item>an IPv4 or IPv6 address (valid_hostaddr): check_addr_access: the address, then
/// shorter prefixes cut at the last '.' (IPv4) or ':' (IPv6);</item>
/// <item>anything else (a host or domain name, HELO name, "unknown"): check_domain_access:
/// the name, then parent domains.</item>
/// </list>
/// check_namadr_access (check_client_access) asks for the client name first and then the
/// address, each a full key: the two searches above in turn give its order.
/// Parent domains are "b.c" when smtpd_access_maps is in parent_domain_matches_subdomains
/// (Postfix's default), else ".b.c".
/// </summary>
public sealed class AccessSearch(AddressExtension extension, bool parentMatchesSubdomains) : IPartialKeySearch
{
    public PartialKeyUse Use => PartialKeyUse.Access;

    public IReadOnlyList<Probe> Probes(string key)
    {
        if (key.Contains('@'))
        {
            var strategy = AddressStrategy.Full | AddressStrategy.NoExt | AddressStrategy.Domain | AddressStrategy.LocalpartAt
                | (parentMatchesSubdomains ? AddressStrategy.ParentDomains : AddressStrategy.DotParentDomains);
            return AddressFind.Probes(key, strategy, QueryForm.ExternalFirst, extension, local: null);
        }
        var probes = new List<Probe>(5);
        if (HostAddress.IsAddress(key)) AddressPrefixes(probes, key);
        else DomainProbes.Add(probes, key, parents: true, dotted: !parentMatchesSubdomains, "host or domain name");
        return probes;
    }

    public LookupResult Answer(string key, Probe hit, LookupResult found) => found;

    /// <summary>check_addr_access: "1.2.3.4", "1.2.3", "1.2", "1"; "2001:db8::1", "2001:db8:", "2001:db8", "2001".</summary>
    private static void AddressPrefixes(List<Probe> probes, string address)
    {
        char delimiter = address.Contains(':') ? ':' : '.';
        string prefix = address;
        probes.Add(new Probe(prefix, "client address"));
        int cut;
        while ((cut = prefix.LastIndexOf(delimiter)) >= 0)
        {
            prefix = prefix[..cut];
            probes.Add(new Probe(prefix, "network prefix"));
        }
    }
}
