using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>
/// One network table named in a Postfix parameter value: <c>socketmap:inet:host:port:name</c>,
/// <c>socketmap:unix:path:name</c>, <c>tcp:host:port</c> or <c>memcache:/file</c>, with whether
/// it was wrapped in <c>proxy:</c> (or <c>proxywrite:</c>), so that proxymap(8) opens it.
/// <see cref="Table"/> is the reference without the proxy prefix, as postmap -q takes it.
/// </summary>
public sealed record PostfixTableRef(string Text, string Type, string Table, bool Proxied)
{
    /// <summary>The endpoint a socketmap: or tcp: table connects to (null for memcache: or bad syntax).</summary>
    public EndpointSpec? Endpoint { get; init; }

    /// <summary>socketmap: only: the socketmap name (the part after the last colon).</summary>
    public string? MapName { get; init; }

    /// <summary>Why the reference cannot be parsed (null when it can, or for memcache:).</summary>
    public string? SyntaxError { get; init; }
}

/// <summary>
/// Finds the network tables in a Postfix parameter value. Lists are split as Postfix splits
/// them (whitespace and commas) and at the braces of <c>pipemap:{a,b}</c> and
/// <c>unionmap:{a,b}</c>; <c>proxy:</c> and <c>proxywrite:</c> prefixes are taken off. Restriction
/// lists work the same way: in <c>check_recipient_access socketmap:...</c> the table is one item.
/// A <c>$name</c> item is not expanded: the caller reads the parameters one by one, so each
/// table is found where it is written.
/// </summary>
public static class PostfixTableRefs
{
    public static List<PostfixTableRef> Extract(string value)
    {
        var refs = new List<PostfixTableRef>();
        foreach (string item in value.Split([' ', '\t', '\n', ',', '{', '}'], StringSplitOptions.RemoveEmptyEntries))
        {
            string table = item;
            bool proxied = false;
            foreach (string prefix in (string[])["proxy:", "proxywrite:"])
                if (table.StartsWith(prefix, StringComparison.Ordinal))
                {
                    table = table[prefix.Length..];
                    proxied = true;
                }
            int colon = table.IndexOf(':');
            if (colon <= 0) continue;
            string type = table[..colon];
            if (type is not ("socketmap" or "tcp" or "memcache")) continue;
            refs.Add(Parse(item, type, table, proxied));
        }
        return refs;
    }

    private static PostfixTableRef Parse(string text, string type, string table, bool proxied)
    {
        var r = new PostfixTableRef(text, type, table, proxied);
        string rest = table[(type.Length + 1)..];
        switch (type)
        {
            case "socketmap":
            {
                // dict_sockmap.c: the socketmap name is everything after the last colon
                int last = rest.LastIndexOf(':');
                if (last <= 0 || last == rest.Length - 1)
                    return r with { SyntaxError = "expected socketmap:inet:host:port:name or socketmap:unix:path:name" };
                var ep = EndpointSpec.TryParse(rest[..last], out string? error);
                return ep is null ? r with { SyntaxError = error } : r with { Endpoint = ep, MapName = rest[(last + 1)..] };
            }
            case "tcp":
            {
                // dict_tcp.c connects to host:port with inet_connect()
                var ep = EndpointSpec.TryParse("inet:" + rest, out string? error);
                return ep is null ? r with { SyntaxError = error } : r with { Endpoint = ep };
            }
            default:
                return r;
        }
    }

    /// <summary>
    /// Whether a table's endpoint is one of our listeners: the same UNIX socket (a relative
    /// path is relative to <paramref name="queueDirectory"/>, the working directory of every
    /// Postfix daemon), or the same port on the same host, where a listener on a wildcard
    /// address (0.0.0.0, ::) serves every host and loopback names are one host.
    /// </summary>
    public static bool SameEndpoint(EndpointSpec table, EndpointSpec listener, string queueDirectory)
    {
        if (table.Kind != listener.Kind) return false;
        if (table.Kind == EndpointKind.Unix)
            return Path.GetFullPath(table.Path, queueDirectory) == Path.GetFullPath(listener.Path, queueDirectory);
        if (table.PortNumber != listener.PortNumber || table.PortNumber < 0) return false;
        if (listener.Host is "0.0.0.0" or "::" or "*" or "") return true;
        if (string.Equals(table.Host, listener.Host, StringComparison.OrdinalIgnoreCase)) return true;
        // "localhost" is 127.0.0.1 and ::1: Postfix tries each address
        return (table.Host == "localhost" && IsLoopback(listener.Host)) || (listener.Host == "localhost" && IsLoopback(table.Host));
    }

    private static bool IsLoopback(string host) =>
        System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip);
}
