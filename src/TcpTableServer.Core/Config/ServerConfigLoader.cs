using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Tables;

namespace TcpTableServer.Config;

/// <summary>
/// Reads the server INI file (and the memcache_table(5) .cf files it names, spec section 6)
/// into an immutable <see cref="ServerDefinition"/>. Shape:
/// <c>[server]</c> with <c>socketmap</c> listeners and timeouts, and one <c>[maps:NAME]</c>
/// section per map with <c>config</c> (a .cf file), <c>tcp</c> (a listener), <c>allow_put</c>
/// (spec 1.8), the L1 cache options <c>l1_ttl</c>, <c>l1_size</c>, <c>l1_negative_ttl</c>,
/// <c>partial_keys</c> with its Postfix parameters (<see cref="PartialKeyOptions"/>)
/// and memcache_table(5) parameters (spec 3.1) / <c>fold_keys</c> (spec 3.3) that
/// override the .cf values.
/// </summary>
public static class ServerConfigLoader
{
    private const string MapsPrefix = "maps:";

    private static readonly string[] ServerKeys =
        ["socketmap", "socketmap_idle_timeout", "tcp_idle_timeout", "max_connections", "shutdown_timeout", "allow", "user", "smtputf8_enable", "metrics"];

    private static readonly string[] MapServerKeys =
        ["config", "tcp", "allow_put", "put_allow", "l1_ttl", "l1_size", "l1_negative_ttl", "deadline",
         PartialKeyOptions.OptionName, .. PartialKeyOptions.ParameterNames];

    /// <summary>Throws <see cref="ConfigException"/> naming file and line on any error.</summary>
    public static ServerDefinition Load(string iniPath, ILogger logger)
    {
        string ini = Path.GetFullPath(iniPath);
        if (!File.Exists(ini)) throw new ConfigException("configuration file not found", ini);
        string iniDir = Path.GetDirectoryName(ini)!;

        var sections = IniFile.Read(ini);
        CheckStructure(sections, ini);
        var values = new IniValueSource(ini, sections);

        var listeners = new ListenerRegistry(ini);
        IReadOnlyList<EndpointSpec> socketmap = [];
        var options = new ServerOptions(null, null, null, TimeSpan.FromSeconds(10));
        var maps = new List<MapDefinition>();
        ConfigValue? smtputf8 = null;
        foreach (var section in sections)
        {
            if (section.Name.Equals("server", StringComparison.OrdinalIgnoreCase))
                (socketmap, options, smtputf8) = ReadServer(section, values, iniDir, listeners, logger);
            else
                maps.Add(ReadMap(section, values, iniDir, listeners, logger));
        }

        if (maps.Count == 0)
            throw new ConfigException("no [maps:NAME] section: there is nothing to serve", ini);
        if (smtputf8 is not null) maps = InheritServerDefault(smtputf8, maps);
        if (socketmap.Count == 0 && maps.All(m => m.TcpListener is null))
            throw new ConfigException("no listeners: set socketmap in [server] or tcp in a [maps:NAME] section", ini);
        socketmap = [.. socketmap.Select(l => ResolveAccess(l, options.Allow, ini))];
        maps = [.. maps.Select(m => m.TcpListener is null ? m : m with { TcpListener = ResolveAccess(m.TcpListener, options.Allow, ini) })];
        // The metrics listener is checked as the table listeners are: reachable from other
        // machines only with an allow list, and only clients inside it may connect.
        if (options.Metrics is { } metrics) options = options with { Metrics = ResolveAccess(metrics, options.Allow, ini) };
        return new ServerDefinition(ini, socketmap, maps, options);
    }

    /// <summary>
    /// The effective allow list of a listener: its own <c>allow=</c> networks, each inside
    /// <c>[server] allow</c> (a listener may only narrow it), or else the server's list.
    /// A listener reachable from other machines needs a list: without one only loopback
    /// could connect, which is a mistake to report at start, not a silent black hole; and a
    /// listener open to anyone must be asked for explicitly (allow = 0.0.0.0/0).
    /// </summary>
    private static EndpointSpec ResolveAccess(EndpointSpec listener, AllowList server, string ini)
    {
        int line = listener.Line;
        var allow = server;
        if (listener.AllowText is not null)
        {
            allow = listener.Allow!; // parsed with the listener (IniValues.ParseListeners)
            foreach (var net in allow.Networks)
                if (!server.Covers(net))
                    throw new ConfigException($"listener {listener}: allow={net} is not inside [server] allow ({server}): a listener may only narrow the server's list", ini, line);
        }
        if (!listener.IsLoopbackOnly && allow.IsLoopbackOnly)
            throw new ConfigException($"listener {listener} is reachable from other machines but has no allow list: set [server] allow = NETWORKS (e.g. 10.0.0.0/8, 2001:db8::/32; loopback is always allowed), or listen on 127.0.0.1", ini, line);
        return listener with { Allow = allow };
    }

    /// <summary>Section names and keys, checked before any value is read.</summary>
    private static void CheckStructure(IReadOnlyList<IniSection> sections, string ini)
    {
        foreach (var section in sections)
        {
            if (section.Line == 0)
                throw new ConfigException($"key \"{section.Entries[0].Key}\" outside any section (expected [server] or [maps:NAME] first)",
                    ini, section.Entries[0].Line);
            bool isServer = section.Name.Equals("server", StringComparison.OrdinalIgnoreCase);
            if (!isServer)
            {
                if (!section.Name.StartsWith(MapsPrefix, StringComparison.OrdinalIgnoreCase))
                    throw new ConfigException($"unknown section [{section.Name}] (expected [server] or [maps:NAME])", ini, section.Line);
                string map = section.Name[MapsPrefix.Length..];
                if (map.Length == 0 || map.Any(c => c == ':' || char.IsWhiteSpace(c) || char.IsControl(c)))
                    throw new ConfigException($"bad map name \"{map}\" in [{section.Name}] (must be non-empty, without ':' or whitespace)", ini, section.Line);
            }
            foreach (var e in section.Entries)
            {
                bool known = isServer ? ServerKeys.Contains(e.Key)
                    : MapServerKeys.Contains(e.Key) || MemcacheParameterNames.IsMemcache(e.Key) || MemcacheParameterNames.IsPolicyBoolean(e.Key)
                      || MemcacheParameterNames.IsPolicyInteger(e.Key) || MemcacheParameterNames.IsPolicyString(e.Key);
                if (known) continue;
                string expected = isServer ? string.Join(", ", ServerKeys)
                    : string.Join(", ", MapServerKeys.Concat(MemcacheParameterNames.Memcache).Concat(MemcacheParameterNames.PolicyBooleans).Concat(MemcacheParameterNames.PolicyIntegers).Concat(MemcacheParameterNames.PolicyStrings));
                throw new ConfigException($"unknown key \"{e.Key}\" in [{section.Name}] (names are case-sensitive; known: {expected})", ini, e.Line);
            }
        }
    }

    private static (IReadOnlyList<EndpointSpec>, ServerOptions, ConfigValue? Smtputf8) ReadServer(
        IniSection section, IniValueSource values, string iniDir, ListenerRegistry listeners, ILogger logger)
    {
        string ini = values.File;
        var socketmap = new List<EndpointSpec>();
        // Never by default: Sendmail's socket map client writes after any idle time and does not
        // retry on EOF, so a server-side idle close fails its next lookup. Idle connections are
        // closed under connection pressure instead, longest idle first (ConnectionGate).
        TimeSpan? smIdle = null;
        TimeSpan? tcpIdle = null;
        int? maxConnections = null;
        var shutdown = TimeSpan.FromSeconds(10);
        var allow = AllowList.LoopbackOnly;
        string? user = null;
        ConfigValue? smtputf8 = null;
        EndpointSpec? metrics = null;
        foreach (var e in section.Entries)
        {
            string v = values.Get(section, e);
            switch (e.Key)
            {
                case "metrics":
                    // the HTTP listener of /metrics and /health (off unless set)
                    var parsedMetrics = IniValues.ParseListeners(e.Key, v, iniDir, ini, e.Line);
                    if (parsedMetrics.Count != 1)
                        throw new ConfigException($"metrics: expected exactly one listener endpoint, got \"{v}\"", ini, e.Line);
                    metrics = listeners.Add(parsedMetrics[0]);
                    break;
                case "socketmap":
                    foreach (var listener in IniValues.ParseListeners(e.Key, v, iniDir, ini, e.Line))
                        socketmap.Add(listeners.Add(listener));
                    break;
                case "socketmap_idle_timeout":
                    int sm = IniValues.ParseCount(e.Key, v, ini, e.Line);
                    if (sm is > 0 and < 30)
                        logger.LogWarning("{File}:{Line}: {Key} = {Value}: less than the recommended 30 seconds (spec 2.6); Sendmail's socket map client fails the next lookup after an idle close (0 = never, the default)", ini, e.Line, e.Key, sm);
                    smIdle = sm == 0 ? null : TimeSpan.FromSeconds(sm);
                    break;
                case "tcp_idle_timeout":
                    int tcp = IniValues.ParseCount(e.Key, v, ini, e.Line);
                    if (tcp is > 0 and < 3600)
                        logger.LogWarning("{File}:{Line}: {Key} = {Value}: Postfix's tcp client never expects the server to hang up; each idle close costs it a warning and a 1 s pause (0 = no timeout, or 3600 or more recommended)",
                            ini, e.Line, e.Key, tcp);
                    tcpIdle = tcp == 0 ? null : TimeSpan.FromSeconds(tcp);
                    break;
                case "max_connections":
                    int max = IniValues.ParseCount(e.Key, v, ini, e.Line);
                    if (max < 1) throw new ConfigException($"{e.Key}: must be at least 1 (leave it out for the default derived from the file descriptor limit)", ini, e.Line);
                    maxConnections = max;
                    break;
                case "allow":
                    allow = AllowList.Parse(e.Key, v, ini, e.Line);
                    break;
                case "user":
                    if (v.Length == 0 || v.Any(c => c == ':' || char.IsWhiteSpace(c)))
                        throw new ConfigException($"{e.Key}: bad user name \"{v}\"", ini, e.Line);
                    user = v;
                    break;
                case "shutdown_timeout":
                    shutdown = TimeSpan.FromSeconds(IniValues.ParseCount(e.Key, v, ini, e.Line));
                    break;
                case "smtputf8_enable":
                    // the default of the maps (InheritServerDefaults), in the map parameters' yes/no form
                    smtputf8 = new ConfigValue(e.Key, IniValues.ParseBool(e.Key, v, ini, e.Line) ? "yes" : "no", ini, e.Line);
                    break;
            }
        }
        return (socketmap, new ServerOptions(smIdle, tcpIdle, maxConnections, shutdown) { Allow = allow, User = user, Metrics = metrics }, smtputf8);
    }

    private static MapDefinition ReadMap(
        IniSection section, IniValueSource values, string iniDir, ListenerRegistry listeners, ILogger logger)
    {
        string ini = values.File;
        string name = section.Name[MapsPrefix.Length..];
        string baseDirectory = iniDir;
        EndpointSpec? tcp = null;
        bool allowPut = false;
        var putAllow = AllowList.LoopbackOnly;
        var l1 = new L1Settings();
        TimeSpan? deadline = null;
        var fromCf = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        var overrides = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        var partial = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        foreach (var e in section.Entries)
        {
            string v = values.Get(section, e);
            if (IsPartialKeyOption(e.Key))
            {
                // Octet strings like every map parameter: they are compared with keys.
                partial[e.Key] = new ConfigValue(e.Key, Octets.FromUtf8(v), ini, e.Line);
                continue;
            }
            switch (e.Key)
            {
                case "config":
                    if (v.Length == 0) throw new ConfigException("config: empty file name", ini, e.Line);
                    string cf = Path.GetFullPath(v, iniDir);
                    baseDirectory = Path.GetDirectoryName(cf)!;
                    foreach (var (k, cv) in ReadCf(cf, logger, ini, e.Line))
                        if (MemcacheParameterNames.IsMemcache(k)) fromCf[k] = cv;
                    break;
                case "tcp":
                    var parsed = IniValues.ParseListeners(e.Key, v, iniDir, ini, e.Line);
                    if (parsed.Count != 1)
                        throw new ConfigException($"tcp: expected exactly one listener endpoint, got \"{v}\"", ini, e.Line);
                    tcp = listeners.Add(parsed[0]);
                    break;
                case "put_allow":
                    putAllow = AllowList.Parse(e.Key, v, ini, e.Line);
                    break;
                case "allow_put":
                    allowPut = IniValues.ParseBool(e.Key, v, ini, e.Line);
                    break;
                case "deadline":
                    var d = IniValues.ParseSeconds(e.Key, v, ini, e.Line);
                    deadline = d == TimeSpan.Zero ? null : d;
                    break;
                case "l1_ttl":
                    l1.Ttl = IniValues.ParseSeconds(e.Key, v, ini, e.Line);
                    break;
                case "l1_negative_ttl":
                    l1.NegativeTtl = IniValues.ParseSeconds(e.Key, v, ini, e.Line);
                    l1.NegativeTtlLine = e.Line;
                    break;
                case "l1_size":
                    l1.Size = IniValues.ParseCount(e.Key, v, ini, e.Line);
                    if (l1.Size < 2) throw new ConfigException($"{e.Key}: must be at least 2 entries", ini, e.Line);
                    break;
                default:
                    if (MemcacheParameterNames.IsPolicyBoolean(e.Key)) IniValues.ParseBool(e.Key, v, ini, e.Line);
                    // Parameter values are octet strings (spec 0): the UTF-8 bytes of the INI text.
                    overrides[e.Key] = new ConfigValue(e.Key, Octets.FromUtf8(v), ini, e.Line);
                    break;
            }
        }
        foreach (var (k, cv) in overrides) fromCf[k] = cv;
        return new MapDefinition(name, baseDirectory, fromCf, tcp, allowPut, l1.Build(section.Name, ini, logger))
        {
            PutAllow = putAllow, Deadline = deadline, PartialKeys = ReadPartialKeys(section.Name, partial, logger),
        };
    }

    private static bool IsPartialKeyOption(string key) =>
        key == PartialKeyOptions.OptionName || PartialKeyOptions.ParameterNames.Contains(key);

    /// <summary>partial_keys and its parameters; the parameters alone do nothing (warned).</summary>
    private static PartialKeyOptions? ReadPartialKeys(string section, Dictionary<string, ConfigValue> partial, ILogger logger)
    {
        if (partial.Remove(PartialKeyOptions.OptionName, out var use))
            return PartialKeyOptions.Parse(use, partial);
        foreach (var v in partial.Values)
            logger.LogWarning("{File}:{Line}: {Key} has no effect in [{Section}]: partial_keys is not set", v.File, v.Line, v.Name, section);
        return null;
    }

    /// <summary>
    /// [server] <c>smtputf8_enable</c> (<paramref name="inherited"/>) is the default of every map
    /// that does not set its own (spec 3.3); without either, the map's default is Postfix's: yes.
    /// </summary>
    private static List<MapDefinition> InheritServerDefault(ConfigValue inherited, List<MapDefinition> maps) =>
        [.. maps.Select(m => m.Parameters.ContainsKey(inherited.Name) ? m
            : m with { Parameters = new Dictionary<string, ConfigValue>(m.Parameters, StringComparer.Ordinal) { [inherited.Name] = inherited } })];

    /// <summary>The l1_* options of one map section as read: L1 is on when l1_ttl &gt; 0.</summary>
    private sealed class L1Settings
    {
        public TimeSpan Ttl;
        public TimeSpan NegativeTtl;
        public int NegativeTtlLine;
        public int Size = L1Options.DefaultSize;

        public L1Options? Build(string section, string ini, ILogger logger)
        {
            if (Ttl > TimeSpan.Zero) return new L1Options(Ttl, Size, NegativeTtl);
            if (NegativeTtl > TimeSpan.Zero)
                logger.LogWarning("{File}:{Line}: l1_negative_ttl has no effect in [{Section}]: the L1 cache is off (l1_ttl is 0 or not set)",
                    ini, NegativeTtlLine, section);
            return null;
        }
    }

    /// <summary>Reads a .cf file; a missing/unreadable file is reported at the INI line that names it.</summary>
    private static IReadOnlyDictionary<string, ConfigValue> ReadCf(string cf, ILogger logger, string ini, int line)
    {
        try
        {
            return CfFile.Read(cf, logger);
        }
        catch (ConfigException ex) when (ex.Line == 0)
        {
            throw new ConfigException($"config: {ex.Message}", ini, line, ex);
        }
    }

    /// <summary>
    /// Values as loaded by Microsoft.Extensions.Configuration.Ini, looked up through the scanner's
    /// entries (which carry the line numbers and the section names' original case); both readers
    /// must agree on every value.
    /// </summary>
    private sealed class IniValueSource
    {
        private readonly IConfiguration configuration;

        public string File { get; }

        public IniValueSource(string ini, IReadOnlyList<IniSection> sections)
        {
            File = ini;
            try
            {
                configuration = new ConfigurationBuilder().AddIniFile(ini, optional: false, reloadOnChange: false).Build();
            }
            catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException)
            {
                throw new ConfigException($"cannot load INI file: {ex.Message}", ini, 0, ex);
            }
            int scanned = sections.Sum(s => s.Entries.Count);
            int loaded = configuration.AsEnumerable().Count(kv => kv.Value is not null);
            if (scanned != loaded)
                throw new ConfigException($"INI readers disagree: {scanned} keys scanned, {loaded} loaded", ini);
        }

        public string Get(IniSection section, IniEntry entry)
        {
            string? value = configuration[ConfigurationPath.Combine(section.Name, entry.Key)];
            if (value != entry.Value)
                throw new ConfigException($"INI readers disagree on \"{entry.Key}\": \"{entry.Value}\" vs \"{value}\"", File, entry.Line);
            return value;
        }
    }

    /// <summary>Every listener endpoint of the file, which must all differ (each carries its INI line).</summary>
    private sealed class ListenerRegistry(string ini)
    {
        private readonly Dictionary<string, EndpointSpec> specs = new(StringComparer.Ordinal);

        public EndpointSpec Add(EndpointSpec spec)
        {
            string key = Key(spec);
            if (specs.TryGetValue(key, out var first))
                throw new ConfigException($"listener {spec} is used twice (lines {first.Line} and {spec.Line})", ini, spec.Line);
            specs[key] = spec;
            return spec;
        }

        /// <summary>Two listeners with the same key bind the same socket (host names compare case-insensitively).</summary>
        private static string Key(EndpointSpec spec) =>
            spec.Kind == EndpointKind.Unix ? "unix:" + spec.Path
            : spec.Kind == EndpointKind.Systemd ? "systemd:" + spec.Path
            : $"inet:{spec.Host.ToLowerInvariant()}:{spec.Port}";
    }
}
