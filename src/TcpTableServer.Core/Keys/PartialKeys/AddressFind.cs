namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// The keys Postfix's mail_addr_find_opt (global/mail_addr_find.c) asks a fixed-key table
/// for one address, in its order, for a strategy:
/// <list type="number">
/// <item>the full address (Full): the key as received;</item>
/// <item>the address without its extension (NoExt, recipient_delimiter set);</item>
/// <item>when the domain is local (LocalDomains): localpart+ext, localpart (LocalpartIfLocal),
/// and/or localpart+ext@, localpart@ (LocalpartAtIfLocal);</item>
/// <item>@domain (AtDomain);</item>
/// <item>domain, then parent domains or .parent domains (Domain, ParentDomains, DotParentDomains);</item>
/// <item>localpart+ext@, localpart@ whatever the domain (LocalpartAt).</item>
/// </list>
/// Address probes are asked in the query form (quoted localpart; with ExternalFirst also
/// unquoted when that differs); @domain and domain probes as they are.
/// </summary>
public static class AddressFind
{
    public static List<Probe> Probes(string key, AddressStrategy strategy, QueryForm form,
        AddressExtension extension, LocalDomains? local)
    {
        var probes = new List<Probe>(8);
        string address = Rfc822Local.Unquote(key);
        string? bare = null, ext = null;
        if ((strategy & AddressStrategy.NoExt) != 0 && extension.TryStrip(address, out var stripped, out var e))
        {
            bare = stripped;
            ext = e;
        }

        if ((strategy & AddressStrategy.Full) != 0) probes.Add(new Probe(key, "full key"));
        if (bare is not null) Forms(probes, bare, withDomain: true, form, "without extension", ext);

        int at = address.LastIndexOf('@');
        if (at < 0) return probes;
        string domain = address[(at + 1)..];
        if ((strategy & (AddressStrategy.LocalpartIfLocal | AddressStrategy.LocalpartAtIfLocal)) != 0
            && local is not null && local.IsLocal(domain))
        {
            if ((strategy & AddressStrategy.LocalpartIfLocal) != 0)
                Local(probes, address, at, bare, ext, keepAt: false, form, "localpart (local domain)");
            if ((strategy & AddressStrategy.LocalpartAtIfLocal) != 0)
                Local(probes, address, at, bare, ext, keepAt: true, form, "localpart@ (local domain)");
        }
        if ((strategy & AddressStrategy.AtDomain) != 0) probes.Add(new Probe(address[at..], "@domain"));
        if ((strategy & AddressStrategy.Domain) != 0)
        {
            bool parents = (strategy & (AddressStrategy.ParentDomains | AddressStrategy.DotParentDomains)) != 0;
            bool dotted = (strategy & AddressStrategy.DotParentDomains) != 0;
            DomainProbes.Add(probes, domain, parents, dotted, "domain");
        }
        if ((strategy & AddressStrategy.LocalpartAt) != 0)
            Local(probes, address, at, bare, ext, keepAt: true, form, "localpart@");
        return probes;
    }

    /// <summary>find_local: localpart+ext[@], then localpart[@] when the address has an extension.</summary>
    private static void Local(List<Probe> probes, string address, int at, string? bare, string? ext, bool keepAt,
        QueryForm form, string step)
    {
        int offset = keepAt ? 1 : 0;
        Forms(probes, address[..(at + offset)], withDomain: keepAt, form, step, null);
        if (bare is null) return;
        int bareAt = bare.LastIndexOf('@');
        Forms(probes, bare[..(bareAt + offset)], withDomain: keepAt, form, step + " without extension", ext);
    }

    /// <summary>find_addr: the probe in the query form(s) of the lookup.</summary>
    private static void Forms(List<Probe> probes, string internalForm, bool withDomain, QueryForm form, string step, string? ext)
    {
        string external = Rfc822Local.Quote(internalForm, bareLocalpart: !withDomain);
        probes.Add(new Probe(external, step, ext));
        if (form == QueryForm.ExternalFirst && !string.Equals(external, internalForm, StringComparison.Ordinal))
            probes.Add(new Probe(internalForm, step + " (internal form)", ext));
    }
}
