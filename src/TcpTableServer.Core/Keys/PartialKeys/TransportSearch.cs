using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// transport_maps as trivial-rewrite searches them: transport_lookup
/// (trivial-rewrite/transport.c) calls mail_addr_find_strategy with
/// MA_FIND_FULL | MA_FIND_NOEXT | MA_FIND_DOMAIN and MA_FIND_PDMS when transport_maps is in
/// parent_domain_matches_subdomains, else MA_FIND_PDDMDS; legacy query form (external, then
/// internal): user+ext@domain, user@domain, domain, then parent domains (or .parent domains).
/// The extension is discarded, so a value is answered as it is. The "*" wildcard is not a
/// probe: Postfix's client asks every table for "*" itself, as a full key.
/// </summary>
public sealed class TransportSearch(AddressExtension extension, bool parentMatchesSubdomains) : IPartialKeySearch
{
    public PartialKeyUse Use => PartialKeyUse.Transport;

    private AddressStrategy Strategy => AddressStrategy.Full | AddressStrategy.NoExt | AddressStrategy.Domain
        | (parentMatchesSubdomains ? AddressStrategy.ParentDomains : AddressStrategy.DotParentDomains);

    public IReadOnlyList<Probe> Probes(string key) =>
        AddressFind.Probes(key, Strategy, QueryForm.ExternalFirst, extension, local: null);

    public LookupResult Answer(string key, Probe hit, LookupResult found) => found;
}
