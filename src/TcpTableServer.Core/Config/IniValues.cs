using System.Globalization;

namespace TcpTableServer.Config;

/// <summary>
/// Value syntax of the server INI file: Postfix-style booleans, counts, whole seconds with units, listener
/// endpoints. Every error names the INI file and line.
/// </summary>
internal static class IniValues
{
    /// <summary>Postfix boolean syntax (yes/no, case-insensitive); true/false are accepted too.</summary>
    public static bool ParseBool(string key, string value, string file, int line) =>
        value.ToLowerInvariant() switch
        {
            "yes" or "true" => true,
            "no" or "false" => false,
            _ => throw new ConfigException($"{key}: bad boolean value \"{value}\" (expected yes or no)", file, line),
        };

    /// <summary>A non-negative decimal integer (digits only) that fits an int.</summary>
    public static int ParseCount(string key, string value, string file, int line)
    {
        if (!IsCount(value, out int n))
            throw new ConfigException($"{key}: bad number \"{value}\" (expected a non-negative decimal integer)", file, line);
        return n;
    }

    /// <summary>Whole seconds, optionally with a Postfix time unit: "5", "5s", "2m", "1h", "1d".</summary>
    public static TimeSpan ParseSeconds(string key, string value, string file, int line)
    {
        int unit = value.Length == 0 ? 0 : value[^1] switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
        string digits = unit == 0 ? value : value[..^1];
        unit = Math.Max(unit, 1);
        if (!IsCount(digits, out int n) || (long)n * unit > int.MaxValue)
            throw new ConfigException($"{key}: bad time value \"{value}\" (expected whole seconds such as 5 or 5s; units s, m, h, d)", file, line);
        return TimeSpan.FromSeconds((long)n * unit);
    }

    private static bool IsCount(string value, out int n)
    {
        n = 0;
        return value.Length > 0 && value.All(char.IsAsciiDigit)
            && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out n);
    }

    /// <summary>
    /// A listener endpoint (spec 1.1 syntax): inet:host:port with a port 1-65535, or
    /// unix:/path (a relative socket path is taken from the INI file's folder), or
    /// systemd:NAME, the socket systemd passes under that name (FileDescriptorName= in the
    /// .socket unit; table listeners only: the metrics listener is Kestrel's own).
    /// </summary>
    public static EndpointSpec ParseListener(string key, string text, string baseDirectory, string file, int line) =>
        ParseEndpoint(key, text, baseDirectory, file, line) with { File = file, Line = line };

    private static EndpointSpec ParseEndpoint(string key, string text, string baseDirectory, string file, int line)
    {
        if (text.StartsWith("systemd:", StringComparison.Ordinal))
        {
            string name = text["systemd:".Length..];
            if (key == "metrics")
                throw new ConfigException($"{key}: \"{text}\": the metrics listener cannot be a systemd: socket (give it an address)", file, line);
            // sd_listen_fds_with_names(3): a name is at most 255 characters, no ':' (the separator)
            if (name.Length is 0 or > 255 || name.Any(c => c == ':' || char.IsControl(c) || char.IsWhiteSpace(c)))
                throw new ConfigException($"{key}: bad listener endpoint \"{text}\": systemd:NAME needs the socket's FileDescriptorName= (1-255 characters, no ':' or spaces)", file, line);
            return new EndpointSpec(EndpointKind.Systemd, "", "", name);
        }
        var spec = EndpointSpec.TryParse(text, out string? error)
            ?? throw new ConfigException($"{key}: bad listener endpoint: {error}", file, line);
        if (spec.Kind == EndpointKind.Unix)
            return spec with { Path = Path.GetFullPath(spec.Path, baseDirectory) };
        if (spec.Host.Length == 0)
            throw new ConfigException($"{key}: bad listener endpoint \"{text}\": missing host", file, line);
        int port = spec.PortNumber;
        if (port is < 1 or > 65535)
            throw new ConfigException($"{key}: bad listener endpoint \"{text}\": port must be a number from 1 to 65535", file, line);
        return spec with { Port = port.ToString(CultureInfo.InvariantCulture) };
    }

    /// <summary>Options a listener may carry after its endpoint ("name=value").</summary>
    public static readonly string[] ListenerOptions = ["max_connections", "allow", "mode", "owner", "group"];

    /// <summary>
    /// A list of listeners, each an endpoint followed by its options:
    /// <c>inet:127.0.0.1:9000 max_connections=5000, unix:/run/tcptable.sock</c>. Items are split
    /// at commas and whitespace (Postfix list syntax); a <c>name=value</c> item belongs to the
    /// endpoint before it.
    /// </summary>
    public static List<EndpointSpec> ParseListeners(string key, string value, string baseDirectory, string file, int line)
    {
        var listeners = new List<EndpointSpec>();
        foreach (string item in SplitList(value))
        {
            int eq = item.IndexOf('=');
            int colon = item.IndexOf(':');
            if (eq < 0 || (colon >= 0 && colon < eq))
            {
                listeners.Add(ParseListener(key, item, baseDirectory, file, line));
                continue;
            }
            string name = item[..eq], v = item[(eq + 1)..];
            if (listeners.Count == 0)
                throw new ConfigException($"{key}: option \"{item}\" before any listener endpoint", file, line);
            switch (name)
            {
                case "max_connections":
                    int max = ParseCount($"{key}: {name}", v, file, line);
                    if (max < 1) throw new ConfigException($"{key}: {name}: must be at least 1", file, line);
                    listeners[^1] = listeners[^1] with { MaxConnections = max };
                    break;
                case "allow":
                    // one network per item; the loader checks the list narrows [server] allow
                    var own = AllowList.Parse($"{key}: {name}", v, file, line);
                    var l = listeners[^1];
                    listeners[^1] = l with { AllowText = l.AllowText is { } t ? $"{t}, {v}" : v, Allow = l.Allow is { } a ? a.Plus(own) : own };
                    break;
                case "mode":
                    RequireUnix(key, name, listeners[^1], file, line);
                    if (v.Length is < 3 or > 4 || !v.All(c => c is >= '0' and <= '7'))
                        throw new ConfigException($"{key}: {name}: \"{v}\" is not an octal file mode (e.g. 0660)", file, line);
                    listeners[^1] = listeners[^1] with { Mode = (UnixFileMode)Convert.ToInt32(v, 8) };
                    break;
                case "owner":
                    RequireUnix(key, name, listeners[^1], file, line);
                    listeners[^1] = listeners[^1] with { Owner = NonEmpty(key, name, v, file, line) };
                    break;
                case "group":
                    RequireUnix(key, name, listeners[^1], file, line);
                    listeners[^1] = listeners[^1] with { Group = NonEmpty(key, name, v, file, line) };
                    break;
                default:
                    throw new ConfigException($"{key}: unknown listener option \"{name}\" (known: {string.Join(", ", ListenerOptions)})", file, line);
            }
        }
        return listeners;
    }

    private static void RequireUnix(string key, string name, EndpointSpec listener, string file, int line)
    {
        if (listener.Kind != EndpointKind.Unix)
            throw new ConfigException($"{key}: {name}= applies to unix: listeners only, not {listener}", file, line);
    }

    private static string NonEmpty(string key, string name, string value, string file, int line) =>
        value.Length > 0 ? value : throw new ConfigException($"{key}: {name}: empty", file, line);

    /// <summary>Splits a listener list at commas and whitespace (Postfix list syntax).</summary>
    public static string[] SplitList(string value) =>
        value.Split([',', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
}
