using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>One line of <c>check --postfix</c>: "error: ...", "warning: ..." or "ok: ...".</summary>
/// <param name="Probed">a postmap probe ran for this finding (the summary counts them)</param>
/// <param name="ProbeFailed">the table did not answer its probe (no connection, or postmap failed)</param>
public sealed record PostfixFinding(string Level, string Text, bool Probed = false, bool ProbeFailed = false)
{
    public override string ToString() => $"{Level}: {Text}";
}

/// <summary>
/// <c>check --postfix</c>: reads Postfix's configuration with postconf and reports every
/// socketmap:/tcp: table that Postfix cannot use against this server: a map name we do not
/// serve or an address we do not listen on, a network table where Postfix refuses one
/// (spec 1.6), a UNIX socket mail_owner cannot connect to or that a chrooted service cannot
/// see; then probes each table with postmap -q.
/// </summary>
public static class PostfixCheck
{
    public const string ProbeKey = "tcptableserver-probe@example.invalid";

    /// <summary>
    /// Parameters whose tables local(8) and virtual(8) open with DICT_FLAG_PARANOID: the tcp:,
    /// socketmap: and memcache: clients then refuse to open ("map is not allowed for
    /// security-sensitive data"), proxied or not (spec 1.6).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Paranoid = new Dictionary<string, string>
    {
        ["alias_maps"] = "local(8)",
        ["mailbox_command_maps"] = "local(8)",
        ["virtual_mailbox_maps"] = "virtual(8)",
        ["virtual_uid_maps"] = "virtual(8)",
        ["virtual_gid_maps"] = "virtual(8)",
    };

    /// <summary>
    /// Which master.cf commands read a main.cf parameter's tables, for the chroot check.
    /// Parameters not listed here and not matched by <see cref="PrefixReaders"/> are unknown.
    /// </summary>
    private static readonly Dictionary<string, string[]> Readers = new()
    {
        ["virtual_alias_maps"] = ["cleanup", "smtpd"],
        ["virtual_alias_domains"] = ["trivial-rewrite", "smtpd"],
        ["virtual_mailbox_domains"] = ["trivial-rewrite", "smtpd"],
        ["virtual_mailbox_maps"] = ["virtual", "smtpd"],
        ["virtual_uid_maps"] = ["virtual"],
        ["virtual_gid_maps"] = ["virtual"],
        ["alias_maps"] = ["local"],
        ["mailbox_command_maps"] = ["local"],
        ["canonical_maps"] = ["cleanup"],
        ["sender_canonical_maps"] = ["cleanup"],
        ["recipient_canonical_maps"] = ["cleanup"],
        ["sender_bcc_maps"] = ["cleanup"],
        ["recipient_bcc_maps"] = ["cleanup"],
        ["header_checks"] = ["cleanup"],
        ["body_checks"] = ["cleanup"],
        ["mime_header_checks"] = ["cleanup"],
        ["nested_header_checks"] = ["cleanup"],
        ["transport_maps"] = ["trivial-rewrite"],
        ["relocated_maps"] = ["trivial-rewrite", "smtpd"],
        ["relay_domains"] = ["trivial-rewrite", "smtpd"],
        ["sender_dependent_relayhost_maps"] = ["trivial-rewrite"],
        ["sender_dependent_default_transport_maps"] = ["trivial-rewrite"],
        ["local_recipient_maps"] = ["smtpd"],
        ["relay_recipient_maps"] = ["smtpd"],
    };

    private static readonly (string Prefix, string Command)[] PrefixReaders =
        [("smtpd_", "smtpd"), ("postscreen_", "postscreen"), ("smtp_", "smtp"), ("lmtp_", "lmtp"), ("address_verify_", "verify")];

    /// <summary>Reads Postfix's configuration (<paramref name="configDir"/>: postconf -c) and checks it against <paramref name="def"/>.</summary>
    public static List<PostfixFinding> Run(ServerDefinition def, string? configDir)
    {
        // postmap runs in the queue directory: a relative -c would name another directory there
        if (configDir is not null) configDir = Path.GetFullPath(configDir);
        var conf = PostfixConf.Read(configDir);
        var findings = Check(def, conf);
        findings.AddRange(Probe(conf, configDir));
        return findings;
    }

    /// <summary>The checks that need no lookup (items 1 to 3), in the order the settings come.</summary>
    public static List<PostfixFinding> Check(ServerDefinition def, PostfixConf conf)
    {
        var findings = new List<PostfixFinding>();
        string maps = string.Join(", ", def.Maps.Select(m => m.Name));
        var tcp = def.Maps.Where(m => m.TcpListener is not null).ToList();
        // A systemd:NAME listener has no address Postfix could name yet: it is shown as the socket's name.
        string tcpServed = tcp.Count == 0 ? "no tcp: listeners"
            : string.Join(", ", tcp.Select(m => m.TcpListener!.Kind == EndpointKind.Systemd
                ? $"{m.TcpListener} (a tcp listener, map {m.Name})" : $"tcp:{m.TcpListener.Display} (map {m.Name})"));
        string socketmapServed = def.SocketmapListeners.Count == 0 ? "no socketmap listeners"
            : string.Join(", ", def.SocketmapListeners.Select(l => l.Kind == EndpointKind.Systemd
                ? $"{l} (a socketmap listener)" : $"socketmap:{l}:NAME"));
        // A systemd:NAME listener's address is known only when systemd passes its socket, so a
        // reference matching none of our address listeners may be served by it.
        string? tcpSystemd = SystemdNames(tcp.Where(m => m.TcpListener!.Kind == EndpointKind.Systemd)
            .Select(m => $"{m.TcpListener!.Path} (map {m.Name})"));
        string? socketmapSystemd = SystemdNames(def.SocketmapListeners.Where(l => l.Kind == EndpointKind.Systemd).Select(l => l.Path));
        foreach (var (name, value) in conf.Expanded)
        {
            string literal = conf.Settings.FirstOrDefault(x => x.Service is null && x.Name == name)?.Value ?? "";
            foreach (var r in PostfixTableRefs.Extract(value))
                if (r.SyntaxError is null)
                    findings.Add(Refused(name, name, r, literal.Contains(r.Text, StringComparison.Ordinal) ? null : literal));
        }
        var owner = PostfixSocketAccess.Lookup(conf.MailOwner);
        if (owner is null) findings.Add(new("warning", $"mail_owner {conf.MailOwner}: not in /etc/passwd; socket permissions not checked"));

        foreach (var setting in conf.Settings)
            foreach (var r in PostfixTableRefs.Extract(setting.Value))
            {
                string at = $"{setting.Where}: {r.Text}";
                if (r.SyntaxError is not null)
                {
                    findings.Add(new("error", $"{at}: {r.SyntaxError}"));
                    continue;
                }
                // main.cf's paranoid parameters are checked below, expanded
                if (setting.Service is not null && Paranoid.ContainsKey(setting.Name))
                    findings.Add(Refused(setting.Where, setting.Name, r, via: null));
                if (r.Endpoint is not { } ep) continue;

                var socketmapOurs = def.SocketmapListeners.FirstOrDefault(l => PostfixTableRefs.SameEndpoint(ep, l, conf.QueueDirectory));
                var tcpOurs = tcp.FirstOrDefault(m => PostfixTableRefs.SameEndpoint(ep, m.TcpListener!, conf.QueueDirectory));
                bool ours = socketmapOurs is not null || tcpOurs is not null;
                if (r.Type == "socketmap")
                {
                    if (socketmapOurs is not null)
                    {
                        if (!def.Maps.Any(m => m.Name == r.MapName))
                            findings.Add(new("error", $"{at}: names map \"{r.MapName}\", which this server does not serve (maps: {maps})"));
                    }
                    else if (tcpOurs is not null)
                        findings.Add(new("error", $"{at}: {ep.Display} is the tcp: listener of map {tcpOurs.Name}, not a socketmap listener (socketmap: {socketmapServed})"));
                    else if (socketmapSystemd is not null)
                        findings.Add(new("warning", $"{at}: {ep.Display} matches no socketmap listener address of this server; it may be served by {socketmapSystemd}" +
                            (def.Maps.Any(m => m.Name == r.MapName) ? "" : $" (if so: it names map \"{r.MapName}\", which this server does not serve (maps: {maps}))")));
                    else
                        findings.Add(new("warning", $"{at}: {ep.Display} is not one of this server's listeners ({socketmapServed})"));
                }
                else if (tcpOurs is null && socketmapOurs is null && tcpSystemd is not null)
                    findings.Add(new("warning", $"{at}: {ep.Display} matches no tcp: listener address of this server; it may be served by {tcpSystemd}"));
                else if (tcpOurs is null)
                {
                    string what = socketmapOurs is not null ? $"{ep.Display} is this server's socketmap listener, not a tcp: listener" : $"{ep.Display} matches no tcp: listener of this server";
                    findings.Add(new("error", $"{at}: {what} (we serve {tcpServed})"));
                }

                if (ep.Kind == EndpointKind.Unix && ours)
                    findings.AddRange(CheckUnix(setting, r, ep, conf, owner));
            }
        return findings;
    }

    /// <summary>"the systemd: socket(s) NAME, ..., whose address is known only when systemd passes it"; null: none.</summary>
    private static string? SystemdNames(IEnumerable<string> names) =>
        names.ToList() is { Count: > 0 } all
            ? $"the systemd: socket(s) {string.Join(", ", all)}, whose address is known only when systemd passes it"
            : null;

    /// <summary>Item 2: a network table where local(8) or virtual(8) refuses one (<paramref name="via"/>: the value it came from by $name expansion).</summary>
    private static PostfixFinding Refused(string where, string name, PostfixTableRef r, string? via) =>
        new("error", $"{where}: {r.Text}{(via is null ? "" : $" (from {name} = {via})")}: {Paranoid[name]} refuses {r.Type}: tables in {name} " +
            $"(\"{r.Type}:... map is not allowed for security-sensitive data\", proxy: or not); use a local table such as lmdb: here");

    /// <summary>Item 3: the socket as mail_owner sees it, and as each chrooted reader sees it.</summary>
    private static IEnumerable<PostfixFinding> CheckUnix(PostfixSetting setting, PostfixTableRef r, EndpointSpec ep,
        PostfixConf conf, PostfixSocketAccess.Identity? owner)
    {
        string at = $"{setting.Where}: {r.Text}";
        // Every Postfix daemon runs with the queue directory as its working directory
        // (chdir before any chroot), so a relative path is relative to it, chrooted or not.
        string full = Path.GetFullPath(ep.Path, conf.QueueDirectory);
        if (owner is { } who && PostfixSocketAccess.WhyNot(full, conf.MailOwner, who) is { } why)
            yield return new("error", $"{at}: Postfix (mail_owner {conf.MailOwner}) cannot connect: {why}");
        if (!Path.IsPathRooted(ep.Path)) yield break;

        var readers = ReadersOf(setting, r.Proxied, conf, out bool known);
        var chrooted = readers.Where(conf.IsChrooted).ToList();
        string relative = Path.GetRelativePath(conf.QueueDirectory, ep.Path);
        string hint = relative.StartsWith("..", StringComparison.Ordinal)
            ? $"put the socket under queue_directory {conf.QueueDirectory} and name it relative to it, e.g. socketmap:unix:private/tcptable:{r.MapName}"
            : $"write it relative to queue_directory: socketmap:unix:{relative}:{r.MapName}";
        foreach (var s in chrooted)
            yield return new("error", $"{at}: service {s.Id} ({s.Command}) runs chrooted in {conf.QueueDirectory}, where {ep.Path} is " +
                $"{Path.Join(conf.QueueDirectory, ep.Path)}; {hint}");
        if (!known && conf.Services.Any(conf.IsChrooted))
            yield return new("warning", $"{at}: which services read {setting.Name} is not known to this check; chrooted services " +
                $"({string.Join(", ", conf.Services.Where(conf.IsChrooted).Select(s => s.Id))}) cannot reach {ep.Path}; {hint}");
    }

    /// <summary>
    /// The master.cf services that open the setting's tables: the overriding service itself,
    /// or the services whose command reads the main.cf parameter; proxymap for a proxy: table.
    /// </summary>
    private static List<PostfixService> ReadersOf(PostfixSetting setting, bool proxied, PostfixConf conf, out bool known)
    {
        known = true;
        if (proxied) return [.. conf.Services.Where(s => s.Command == "proxymap")];
        if (setting.Service is not null) return [.. conf.Services.Where(s => s.Id == setting.Service)];
        string[]? commands = Readers.TryGetValue(setting.Name, out var c) ? c
            : PrefixReaders.Where(p => setting.Name.StartsWith(p.Prefix, StringComparison.Ordinal)).Select(p => p.Command).ToArray() is { Length: > 0 } pc ? pc : null;
        if (commands is null)
        {
            known = false;
            return [];
        }
        // a service with its own -o override of the parameter reads that value, not main.cf's
        return [.. conf.Services.Where(s => commands.Contains(s.Command)
            && !conf.Settings.Any(o => o.Service == s.Id && o.Name == setting.Name))];
    }

    /// <summary>
    /// Item 4: <c>postmap -q PROBE TABLE</c> for each socketmap:/tcp: table once (without its
    /// proxy: prefix: postmap would need a running proxymap), run in the queue directory as
    /// the daemons are, so that relative socket paths resolve as theirs do.
    /// </summary>
    public static IEnumerable<PostfixFinding> Probe(PostfixConf conf, string? configDir)
    {
        string? cwd = Directory.Exists(conf.QueueDirectory) ? conf.QueueDirectory : null;
        var done = new HashSet<string>();
        foreach (var setting in conf.Settings)
            foreach (var r in PostfixTableRefs.Extract(setting.Value))
            {
                if (r.Endpoint is not { } ep || !done.Add(r.Table)) continue;
                string at = $"{setting.Where}: {r.Table}: postmap -q {ProbeKey}";
                // tcp: retries a refused connection ten times a second apart: connect first
                if (CannotConnect(ep, conf.QueueDirectory) is { } refused)
                {
                    yield return new("warning", $"{at}: not run: connect to {ep.Display}: {refused}", ProbeFailed: true);
                    continue;
                }
                var (code, stdout, stderr) = PostfixTools.Run(PostmapPath, configDir, ["-q", ProbeKey, r.Table], cwd);
                yield return code switch
                {
                    0 => new("ok", $"{at}: found: {stdout.TrimEnd('\n')}", Probed: true),
                    1 when stderr.Trim().Length == 0 => new("ok", $"{at}: not found", Probed: true),
                    _ => new("warning", $"{at}: exit {code}: {LastLine(stderr)}", Probed: true, ProbeFailed: true),
                };
            }
    }

    /// <summary>Postfix's postmap, from PATH.</summary>
    public const string PostmapPath = "postmap";

    /// <summary>postmap's last line ("postmap: fatal: table ...: query error: ..."), which says what failed.</summary>
    private static string LastLine(string s) =>
        s.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).LastOrDefault() ?? "(no message)";

    /// <summary>Why a connection to the endpoint fails (2 s at most), or null when it succeeds.</summary>
    private static string? CannotConnect(EndpointSpec ep, string queueDirectory)
    {
        if (ep.Kind == EndpointKind.Unix && !File.Exists(Path.GetFullPath(ep.Path, queueDirectory))) return "no such socket file";
        try
        {
            using var socket = ep.Kind == EndpointKind.Unix
                ? new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified)
                : new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            if (ep.Kind == EndpointKind.Unix)
                socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.GetFullPath(ep.Path, queueDirectory)), cts.Token).AsTask().GetAwaiter().GetResult();
            else
                socket.ConnectAsync(ep.Host, ep.PortNumber, cts.Token).AsTask().GetAwaiter().GetResult();
            return null;
        }
        catch (System.Net.Sockets.SocketException e) { return e.Message; }
        catch (OperationCanceledException) { return "no answer within 2 s"; }
    }

    /// <summary>
    /// The lines, then the summary; the exit code: 78 with any error (Postfix is wired wrongly),
    /// else 75 (EX_TEMPFAIL) when a table did not answer its probe (the wiring is right, but
    /// Postfix's lookups would fail now: the server not running, memcached down without a backup),
    /// else 0.
    /// </summary>
    public static int Report(IReadOnlyList<PostfixFinding> findings, TextWriter output)
    {
        foreach (var f in findings) output.WriteLine(f);
        int errors = findings.Count(f => f.Level == "error"), warnings = findings.Count(f => f.Level == "warning");
        int probes = findings.Count(f => f.Probed);
        output.WriteLine($"postfix check: {errors} error(s), {warnings} warning(s), {probes} table(s) probed");
        return errors > 0 ? ExitCodes.Config : findings.Any(f => f.ProbeFailed) ? ExitCodes.TempFail : ExitCodes.Found;
    }
}
