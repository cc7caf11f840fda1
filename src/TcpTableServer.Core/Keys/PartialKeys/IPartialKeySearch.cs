using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// One Postfix use of a fixed-key table (virtual, canonical, transport, access): the keys it
/// would ask a hash: table for one full key, and what Postfix ends up with from a hit.
/// </summary>
public interface IPartialKeySearch
{
    PartialKeyUse Use { get; }

    /// <summary>The probes for <paramref name="key"/>, in Postfix's order; the first is the key itself.</summary>
    IReadOnlyList<Probe> Probes(string key);

    /// <summary>
    /// The answer to give for a hit on <paramref name="hit"/>: what Postfix makes of the
    /// table's value from a partial match, given that our answer reaches it as a full-key hit.
    /// </summary>
    LookupResult Answer(string key, Probe hit, LookupResult found);
}
