using TcpTableServer.Explain;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Memcache;

/// <summary>Why a key was skipped (spec 3.2); the texts are Postfix's (3.10).</summary>
public enum SkipReason : byte
{
    None,
    EmptyKey,
    DomainMismatch,
    EmptyExpansion,
    SpaceOrControls,
}

/// <summary>
/// The result of key preparation (spec 3.2): the memcached key <see cref="MemcacheKey"/>
/// and the key for the backup <see cref="BackupKey"/>, or a skip, or a domain-list error.
/// </summary>
public readonly record struct PreparedKey(string MemcacheKey, string BackupKey, SkipReason Skip, ErrorClass Error)
{
    public bool IsSkip => Skip != SkipReason.None;
    public bool IsError => Error != ErrorClass.None;

    public static PreparedKey Skipped(SkipReason reason) => new("", "", reason, ErrorClass.None);
    public static PreparedKey Failed(ErrorClass error) => new("", "", SkipReason.None, error);

    public static string Describe(SkipReason reason) => reason switch
    {
        SkipReason.EmptyKey => "empty lookup key",
        SkipReason.DomainMismatch => "domain mismatch",
        SkipReason.EmptyExpansion => "empty lookup key expansion",
        SkipReason.SpaceOrControls => "name contains space or controls",
        _ => "",
    };
}

/// <summary>
/// Key preparation, identical for lookup, update and delete (spec 3.2, in this order). With a
/// <see cref="LookupTrace"/> attached, each step and the outcome are recorded.
/// </summary>
public sealed class KeyPreparer(MemcacheSettings settings)
{
    public async ValueTask<PreparedKey> PrepareAsync(string key, CancellationToken ct)
    {
        var trace = LookupTrace.Current;
        if (key.Length == 0) return Traced(trace, key, PreparedKey.Skipped(SkipReason.EmptyKey));                 // 1
        if (settings.Domain is { } domain)                                                                        // 2
        {
            var check = await domain.CheckAsync(key, ct).ConfigureAwait(false);
            trace?.Domain(key, check);
            if (check.IsError) return Traced(trace, key, PreparedKey.Failed(check.Error));
            if (!check.Matches) return Traced(trace, key, PreparedKey.Skipped(SkipReason.DomainMismatch));
        }
        string folded = settings.FoldKeys ? Octets.FoldAscii(key) : key;                                         // 3
        string? m = settings.KeyFormat.Expand(folded);                                                            // 4
        string? expanded = m;
        if (m is not null && settings.KeyDigest is { } digest) m = digest.Apply(m);                               // 5
        trace?.KeySteps(settings.FoldKeys, folded, settings.KeyFormat, expanded, settings.KeyDigest, m);
        if (m is null) return Traced(trace, key, PreparedKey.Skipped(SkipReason.EmptyExpansion));
        if (m.Length == 0) return Traced(trace, key, PreparedKey.Skipped(SkipReason.EmptyExpansion));          // 6
        if (HasSpaceOrControls(m)) return Traced(trace, key, PreparedKey.Skipped(SkipReason.SpaceOrControls)); // 7
        return Traced(trace, key, new PreparedKey(m, folded, SkipReason.None, ErrorClass.None));
    }

    private static PreparedKey Traced(LookupTrace? trace, string key, PreparedKey prepared)
    {
        trace?.Prepared(key, prepared);
        return prepared;
    }

    /// <summary>3.2 step 7 (3.12 behaviour): any byte 0x00-0x20 or 0x7F.</summary>
    public static bool HasSpaceOrControls(string m)
    {
        foreach (char c in m)
            if (c <= ' ' || c == '\x7f') return true;
        return false;
    }
}
