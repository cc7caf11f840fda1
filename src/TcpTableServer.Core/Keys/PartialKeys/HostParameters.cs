using System.Net;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Keys.PartialKeys;

/// <summary>
/// The host parameters of the local-domain test as Postfix reads them: $name and ${name} of
/// myhostname, mydomain and myorigin are expanded, and Postfix's defaults apply: myhostname from
/// the system host name (".localdomain" appended when it has no dot), mydomain the part after
/// its first dot (or "localdomain"), myorigin = $myhostname, mydestination =
/// $myhostname, localhost.$mydomain, localhost; inet_interfaces = all, proxy_interfaces empty.
/// </summary>
public sealed class HostParameters(IReadOnlyDictionary<string, ConfigValue> p)
{
    private static readonly Dictionary<string, string> Defaults = new(StringComparer.Ordinal)
    {
        ["myorigin"] = "$myhostname",
        ["mydestination"] = "$myhostname, localhost.$mydomain, localhost",
        ["inet_interfaces"] = "all",
        ["proxy_interfaces"] = "",
    };

    public string Get(string name, int depth = 0)
    {
        if (depth > 10) throw new ConfigException($"{name}: parameter expansion loops");
        if (p.TryGetValue(name, out var v)) return Expand(v.Value, v, depth);
        if (name == "myhostname") return DefaultHostname(p.TryGetValue("mydomain", out var d) ? d.Value : null);
        if (name == "mydomain")
        {
            string host = Get("myhostname", depth + 1);
            int dot = host.IndexOf('.');
            return dot < 0 || host.IndexOf('.', dot + 1) < 0 ? "localdomain" : host[(dot + 1)..];
        }
        return Expand(Defaults[name], null, depth);
    }

    private string Expand(string text, ConfigValue? at, int depth)
    {
        if (!text.Contains('$')) return text;
        var o = new StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '$')
            {
                o.Append(text[i]);
                continue;
            }
            int start = i + 1, end;
            if (start < text.Length && text[start] == '{')
            {
                end = text.IndexOf('}', start);
                if (end < 0) throw Error($"missing '}}' in \"{text}\"", at);
                string inner = text[(start + 1)..end];
                i = end;
                o.Append(Reference(inner, at, depth));
            }
            else
            {
                end = start;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_')) end++;
                o.Append(Reference(text[start..end], at, depth));
                i = end - 1;
            }
        }
        return o.ToString();
    }

    private string Reference(string name, ConfigValue? at, int depth) =>
        name is "myhostname" or "mydomain" or "myorigin"
            ? Get(name, depth + 1)
            : throw Error($"${name}: only $myhostname, $mydomain and $myorigin can be expanded here", at);

    private static ConfigException Error(string why, ConfigValue? at) => at is null ? new ConfigException(why) : new ConfigException(why, at);

    /// <summary>check_myhostname: the system name, qualified with mydomain (or localdomain) when it has no dot.</summary>
    private static string DefaultHostname(string? mydomain)
    {
        string host = Octets.FromUtf8(Dns.GetHostName());
        return host.Contains('.') ? host : host + "." + (mydomain is { Length: > 0 } && !mydomain.Contains('$') ? mydomain : "localdomain");
    }
}
