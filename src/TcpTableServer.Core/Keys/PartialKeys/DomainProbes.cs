namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// A domain and its parents, as both mail_addr_find_opt's MA_FIND_DOMAIN loop and smtpd's
/// check_domain_access walk them: "a.b.c", then "b.c", "c" when the table's parameter is in
/// parent_domain_matches_subdomains, else ".b.c", ".c".
/// </summary>
public static class DomainProbes
{
    public static void Add(List<Probe> probes, string domain, bool parents, bool dotted, string step)
    {
        string name = domain;
        bool first = true;
        while (name.Length > 0)
        {
            probes.Add(new Probe(name, first ? step : dotted ? ".parent domain" : "parent domain"));
            first = false;
            if (!parents) break;
            int next = name.IndexOf('.', 1);
            if (next < 0) break;
            name = dotted ? name[next..] : name[(next + 1)..];
        }
    }
}
