namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// One key of a partial-key search, asked of the map in order.
/// <paramref name="Extension"/> is the address extension (with its delimiter, "+ext") when
/// the probe is the address with that extension stripped (Postfix's "unmatched extension").
/// </summary>
/// <param name="Key">the key asked of the map</param>
/// <param name="Step">what the probe is, for <c>query --explain</c> ("without extension", "parent domain", ...)</param>
public readonly record struct Probe(string Key, string Step, string? Extension = null);

/// <summary>The search orders a map can emulate (INI <c>partial_keys</c>).</summary>
public enum PartialKeyUse : byte { Virtual, Canonical, Transport, Access }

/// <summary>
/// Which Postfix lookup form the client asks a table in (global/mail_addr_form.h): the
/// external (quoted) form only, as cleanup does for virtual and canonical, or the external
/// form and then, when different, the internal form, as the legacy mail_addr_find does for
/// transport_maps and smtpd access maps.
/// </summary>
public enum QueryForm : byte { External, ExternalFirst }

/// <summary>mail_addr_find_opt's strategy flags (global/mail_addr_find.h).</summary>
[Flags]
public enum AddressStrategy
{
    None = 0,
    /// <summary>MA_FIND_FULL: localpart+ext@domain</summary>
    Full = 1 << 0,
    /// <summary>MA_FIND_NOEXT: localpart@domain</summary>
    NoExt = 1 << 1,
    /// <summary>MA_FIND_LOCALPART_IF_LOCAL: localpart+ext, then localpart, when the domain is local</summary>
    LocalpartIfLocal = 1 << 2,
    /// <summary>MA_FIND_LOCALPART_AT_IF_LOCAL: the same with a trailing '@'</summary>
    LocalpartAtIfLocal = 1 << 3,
    /// <summary>MA_FIND_AT_DOMAIN: @domain</summary>
    AtDomain = 1 << 4,
    /// <summary>MA_FIND_DOMAIN: domain</summary>
    Domain = 1 << 5,
    /// <summary>MA_FIND_PDMS: then parent domains (parent matches subdomains)</summary>
    ParentDomains = 1 << 6,
    /// <summary>MA_FIND_PDDMDS: then .parent domains (parent-dot matches subdomains)</summary>
    DotParentDomains = 1 << 7,
    /// <summary>MA_FIND_LOCALPART_AT: localpart+ext@, then localpart@, whatever the domain</summary>
    LocalpartAt = 1 << 8,
    /// <summary>MA_FIND_DEFAULT</summary>
    Default = Full | NoExt | LocalpartIfLocal | AtDomain,
}
