namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// Splitting an address extension off, as Postfix's strip_addr_internal and
/// split_addr_internal do (global/strip_addr.c, split_addr.c): the localpart is cut at the
/// first character that is in <c>recipient_delimiter</c> (a set of characters); the extension
/// keeps that delimiter ("+ext"). Not split: postmaster, MAILER-DAEMON, the double-bounce
/// sender, and with '-' among the delimiters and owner_request_special = yes, owner-* and
/// *-request; nor a split that would leave an empty localpart or an empty extension position
/// at the end.
/// </summary>
public sealed class AddressExtension(string delimiters, bool ownerRequestSpecial, string doubleBounceSender)
{
    /// <summary>The <c>recipient_delimiter</c> set ("" : no extensions).</summary>
    public string Delimiters { get; } = delimiters;

    /// <summary><c>owner_request_special</c>: owner-* and *-request are not split at '-'.</summary>
    public bool OwnerRequestSpecial { get; } = ownerRequestSpecial;

    /// <summary><c>double_bounce_sender</c>: a localpart never split.</summary>
    public string DoubleBounceSender { get; } = doubleBounceSender;

    /// <summary>
    /// <paramref name="address"/> (internal form) without its extension and the extension, or
    /// false when it has none (or no delimiter is configured).
    /// </summary>
    public bool TryStrip(string address, out string stripped, out string extension)
    {
        stripped = extension = "";
        if (Delimiters.Length == 0 || address.AsSpan().IndexOfAny(Delimiters) < 0) return false;
        int at = address.LastIndexOf('@');
        string local = at < 0 ? address : address[..at];
        int cut = Split(local);
        if (cut < 0) return false;
        extension = local[cut..];
        stripped = at < 0 ? local[..cut] : local[..cut] + address[at..];
        return true;
    }

    /// <summary>split_addr_internal: the index of the delimiter that starts the extension, or -1.</summary>
    private int Split(string local)
    {
        if (local.Equals("postmaster", StringComparison.OrdinalIgnoreCase)) return -1;
        if (local.Equals("MAILER-DAEMON", StringComparison.OrdinalIgnoreCase)) return -1;
        if (local.Equals(DoubleBounceSender, StringComparison.OrdinalIgnoreCase)) return -1;
        if (Delimiters.Contains('-') && OwnerRequestSpecial)
        {
            if (local.StartsWith("owner-", StringComparison.OrdinalIgnoreCase)) return -1;
            if (local.Length > 8 && local.EndsWith("-request", StringComparison.OrdinalIgnoreCase)) return -1;
        }
        int len = local.AsSpan().IndexOfAny(Delimiters);
        // "Do not split the address if the result would have a null localpart" (and nothing to cut).
        return len <= 0 ? -1 : len;
    }
}
