using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// virtual_alias_maps and canonical_maps as cleanup searches them: mail_addr_map_internal
/// (global/mail_addr_map.c, from cleanup_map1n.c and cleanup_map11.c) calls
/// mail_addr_find_opt with MA_FIND_DEFAULT and the external query form:
/// user+ext@domain, user@domain, user+ext and user (only when the domain is local),
/// @domain. A hit on a probe without the extension is rewritten as mail_addr_map does
/// (<see cref="ExtensionPropagation"/>).
/// </summary>
public sealed class AddressMapSearch(PartialKeyUse use, AddressExtension extension, LocalDomains local, bool propagate)
    : IPartialKeySearch
{
    public PartialKeyUse Use { get; } = use;

    /// <summary>Whether propagate_unmatched_extensions names this use.</summary>
    public bool Propagate { get; } = propagate;

    public IReadOnlyList<Probe> Probes(string key) =>
        AddressFind.Probes(key, AddressStrategy.Default, QueryForm.External, extension, local);

    public LookupResult Answer(string key, Probe hit, LookupResult found) =>
        hit.Extension is null ? found : ExtensionPropagation.Apply(key, hit.Extension, found, Propagate);
}
