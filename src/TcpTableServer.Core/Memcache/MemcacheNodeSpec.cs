using TcpTableServer.Config;

namespace TcpTableServer.Memcache;

/// <summary>
/// One entry of POLICY <c>memcache_nodes</c> (INI map section only): a memcached endpoint and
/// its ketama weight. Syntax: comma-separated entries, each an endpoint optionally followed by
/// <c>weight=N</c> (N at least 1, default 1), e.g.
/// <c>inet:10.0.0.1:11211, inet:10.0.0.2:11211, inet:10.0.0.3:11211 weight=2</c>.
/// </summary>
public sealed record MemcacheNodeSpec(EndpointSpec Endpoint, int Weight)
{
    /// <summary>The name the node's ketama points derive from (<see cref="KetamaRing.NodeName"/>).</summary>
    public string KetamaName => Endpoint.Kind == EndpointKind.Unix
        ? KetamaRing.NodeName(Endpoint.Path, 0)
        : KetamaRing.NodeName(Endpoint.Host, int.Parse(Endpoint.Port, System.Globalization.CultureInfo.InvariantCulture));

    public override string ToString() => Weight == 1 ? Endpoint.ToString() : $"{Endpoint} weight={Weight}";

    private static bool IsPort(string text) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
        && port is >= 1 and <= 65535;

    /// <summary>Parses the list; throws <see cref="ConfigException"/> naming the parameter, file and line.</summary>
    public static IReadOnlyList<MemcacheNodeSpec> ParseList(ConfigValue v)
    {
        var nodes = new List<MemcacheNodeSpec>();
        foreach (string raw in v.Value.Split(','))
        {
            string entry = raw.Trim();
            if (entry.Length == 0) throw new ConfigException($"empty node in \"{v.Value}\" (expected ENDPOINT [weight=N], ...)", v);
            string[] words = entry.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            var endpoint = EndpointSpec.TryParse(words[0], out var error) ?? throw new ConfigException(error!, v);
            if (endpoint.Kind == EndpointKind.Inet && !IsPort(endpoint.Port))
                throw new ConfigException($"node {words[0]}: the port must be a number from 1 to 65535 (it names the node's keys on the ring)", v);
            int weight = 1;
            foreach (string option in words.AsSpan(1))
            {
                if (!option.StartsWith("weight=", StringComparison.Ordinal)
                    || !int.TryParse(option.AsSpan(7), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out weight)
                    || weight < 1)
                    throw new ConfigException($"node {words[0]}: bad option \"{option}\" (expected weight=N, N at least 1)", v);
            }
            var node = new MemcacheNodeSpec(endpoint, weight);
            if (nodes.Any(n => n.KetamaName == node.KetamaName))
                throw new ConfigException($"node {words[0]} is listed twice", v);
            nodes.Add(node);
        }
        return nodes;
    }
}
