using TcpTableServer.Host;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide;

/// <summary>
/// <c>check --postfix --postconf-dir DIR</c> against real Postfix tools (Debian's postconf and
/// postmap) on a private configuration directory: each mistake written into main.cf or
/// master.cf is reported naming the parameter (and service) with exit 78; a clean configuration
/// passes and its tables answer postmap -q from a running server and memcached.
/// </summary>
[TestFixture, Category("Interop"), System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PostfixCheckInteropTests
{
    private sealed class Rig : IDisposable
    {
        public readonly TempDir Dir = new();
        public readonly int Socketmap = FreePort.Next(), Tcp = FreePort.Next();
        public string Queue => Dir["queue"];
        public string PostfixDir => Dir["postfix-etc"];
        public string Ini { get; }

        /// <param name="tcpListener">the aliases map's tcp listener; null: inet:127.0.0.1:<see cref="Tcp"/></param>
        public Rig(string memcache = "inet:127.0.0.1:11211", string unixListener = "", string? tcpListener = null)
        {
            // directories the postfix user can search, as /var/spool/postfix is
            File.SetUnixFileMode(Dir.Path, (UnixFileMode)Convert.ToInt32("755", 8));
            Directory.CreateDirectory(Path.Combine(Queue, "private"), (UnixFileMode)Convert.ToInt32("755", 8));
            Directory.CreateDirectory(PostfixDir);
            Dir.File("aliases.cf", $"memcache = {memcache}\nkey_format = aliases:%s\n");
            Dir.File("other.cf", $"memcache = {memcache}\nkey_format = other:%s\n");
            Ini = Dir.File("server.ini",
                $"[server]\nsocketmap = inet:127.0.0.1:{Socketmap}{unixListener}\n" +
                $"[maps:aliases]\nconfig = aliases.cf\ntcp = {tcpListener ?? $"inet:127.0.0.1:{Tcp}"}\n[maps:other]\nconfig = other.cf\n");
            Postfix("", "");
        }

        /// <summary>Writes main.cf (after compatibility_level and queue_directory) and master.cf.</summary>
        public void Postfix(string main, string master)
        {
            File.WriteAllText(Path.Combine(PostfixDir, "main.cf"), $"compatibility_level = 3.6\nqueue_directory = {Queue}\n{main}");
            File.WriteAllText(Path.Combine(PostfixDir, "master.cf"), master);
        }

        /// <summary>check --postfix; with <paramref name="relative"/> run from the rig's directory with --postconf-dir postfix-etc.</summary>
        public (int Code, string Output) Check(bool relative = false)
        {
            using var p = relative
                ? ServerProcess.StartProgram("/bin/sh", "-c", "cd \"$0\" && exec dotnet \"$@\"", Dir.Path,
                    ServerProcess.ServerDll, "--config", Ini, "check", "--postfix", "--postconf-dir", "postfix-etc")
                : ServerProcess.Start("--config", Ini, "check", "--postfix", "--postconf-dir", PostfixDir);
            int code = p.WaitForExit(60);
            return (code, p.Stdout + p.Stderr);
        }

        public void Dispose() => Dir.Dispose();
    }

    [SetUp]
    public void RequirePostfix() => Assume.That(Support.Postfix.Installed, "postmap is not installed: run scripts/install-deps");

    [Test]
    public void Socketmap_name_we_do_not_serve_is_an_error_naming_parameter_and_our_maps()
    {
        using var rig = new Rig();
        rig.Postfix($"virtual_alias_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:nosuch\n", "");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: virtual_alias_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:nosuch: names map \"nosuch\", which this server does not serve (maps: aliases, other)"));
        Assert.That(output, Does.Contain("postfix check: 1 error(s)"));
    }

    [Test]
    public void Unserved_names_inside_proxy_and_pipemap_are_found()
    {
        using var rig = new Rig();
        rig.Postfix($"transport_maps = proxy:socketmap:inet:localhost:{rig.Socketmap}:transport\n" +
                    $"canonical_maps = pipemap:{{socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases, socketmap:inet:127.0.0.1:{rig.Socketmap}:Other}}\n", "");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain($"error: transport_maps: proxy:socketmap:inet:localhost:{rig.Socketmap}:transport: names map \"transport\""));
        Assert.That(output, Does.Contain($"error: canonical_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:Other: names map \"Other\""), "map names are case-sensitive");
        Assert.That(output, Does.Not.Contain(":aliases: names map"));
    }

    [Test]
    public void Tcp_address_we_do_not_listen_on_is_an_error_saying_what_we_serve()
    {
        using var rig = new Rig();
        int wrong = FreePort.Next();
        rig.Postfix($"transport_maps = tcp:127.0.0.1:{wrong}\nrelocated_maps = tcp:127.0.0.1:{rig.Socketmap}\n", "");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: transport_maps: tcp:127.0.0.1:{wrong}: 127.0.0.1:{wrong} matches no tcp: listener of this server (we serve tcp:127.0.0.1:{rig.Tcp} (map aliases))"));
        Assert.That(output, Does.Contain($"error: relocated_maps: tcp:127.0.0.1:{rig.Socketmap}: 127.0.0.1:{rig.Socketmap} is this server's socketmap listener, not a tcp: listener"));
    }

    /// <summary>
    /// A tcp: listener served by a socket systemd passes by name (tcp = systemd:NAME): its address
    /// is known only when systemd passes it, so a Postfix tcp: reference matching none of our
    /// address listeners may be that socket: a warning naming it, not an error (exit 75 here: the
    /// server is not running, so the probe cannot connect; it was 78). A reference to our
    /// socketmap listener's address is still an error: that address is known and is not tcp:.
    /// </summary>
    [Test]
    public void Tcp_reference_with_a_systemd_tcp_listener_is_a_warning_naming_the_socket()
    {
        using var rig = new Rig(tcpListener: "systemd:aliases-tcp");
        rig.Postfix($"transport_maps = tcp:127.0.0.1:{rig.Tcp}\n", "");
        var (code, output) = rig.Check();
        Assert.That(output, Does.Contain(
            $"warning: transport_maps: tcp:127.0.0.1:{rig.Tcp}: 127.0.0.1:{rig.Tcp} matches no tcp: listener address of this server; " +
            "it may be served by the systemd: socket(s) aliases-tcp (map aliases), whose address is known only when systemd passes it"), output);
        Assert.That(output, Does.Not.Contain("error:"), output);
        Assert.That(code, Is.EqualTo(75), output);

        rig.Postfix($"transport_maps = tcp:127.0.0.1:{rig.Socketmap}\n", "");
        (code, output) = rig.Check();
        Assert.That(output, Does.Contain($"error: transport_maps: tcp:127.0.0.1:{rig.Socketmap}: 127.0.0.1:{rig.Socketmap} is this server's socketmap listener, not a tcp: listener"), output);
        Assert.That(code, Is.EqualTo(78), output);
    }

    /// <summary>
    /// The same for socketmap: with a systemd:NAME socketmap listener, a socketmap: reference at
    /// an address none of ours has is a warning naming that socket, and says so when the map it
    /// names is not one we serve.
    /// </summary>
    [Test]
    public void Socketmap_reference_with_a_systemd_socketmap_listener_is_a_warning_naming_the_socket()
    {
        using var rig = new Rig(unixListener: ", systemd:tcptable-sm");
        int elsewhere = FreePort.Next();
        rig.Postfix($"virtual_alias_maps = socketmap:inet:127.0.0.1:{elsewhere}:aliases\ncanonical_maps = socketmap:inet:127.0.0.1:{elsewhere}:nosuch\n", "");
        var (code, output) = rig.Check();
        const string MaybeSystemd = "matches no socketmap listener address of this server; it may be served by the systemd: socket(s) tcptable-sm, whose address is known only when systemd passes it";
        Assert.That(output, Does.Contain($"warning: virtual_alias_maps: socketmap:inet:127.0.0.1:{elsewhere}:aliases: 127.0.0.1:{elsewhere} {MaybeSystemd}\n"), output);
        Assert.That(output, Does.Contain($"warning: canonical_maps: socketmap:inet:127.0.0.1:{elsewhere}:nosuch: 127.0.0.1:{elsewhere} {MaybeSystemd} " +
            "(if so: it names map \"nosuch\", which this server does not serve (maps: aliases, other))"), output);
        Assert.That(output, Does.Not.Contain("error:"), output);
        Assert.That(code, Is.EqualTo(75), output);
    }

    [Test]
    public void Master_cf_override_is_reported_with_its_service()
    {
        using var rig = new Rig();
        rig.Postfix("", "smtp      inet  n       -       n       -       -       smtpd\n" +
                        $"  -o smtpd_recipient_restrictions=check_recipient_access,socketmap:inet:127.0.0.1:{rig.Socketmap}:nope\n");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: master.cf service smtp/inet: smtpd_recipient_restrictions: socketmap:inet:127.0.0.1:{rig.Socketmap}:nope: names map \"nope\""));
    }

    [TestCase("alias_maps", "local(8)")]
    [TestCase("mailbox_command_maps", "local(8)")]
    [TestCase("virtual_mailbox_maps", "virtual(8)")]
    [TestCase("virtual_uid_maps", "virtual(8)")]
    [TestCase("virtual_gid_maps", "virtual(8)")]
    public void Spec1_6_network_table_in_a_security_sensitive_parameter_is_an_error(string parameter, string daemon)
    {
        using var rig = new Rig();
        rig.Postfix($"{parameter} = proxy:socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases\n", "");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain($"error: {parameter}: proxy:socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases: {daemon} refuses socketmap: tables in {parameter}"));
    }

    [Test]
    public void Spec1_6_network_table_reaching_alias_maps_by_expansion_or_master_cf_override_is_an_error()
    {
        using var rig = new Rig();
        rig.Postfix($"virtual_alias_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases\nalias_maps = hash:/etc/aliases $virtual_alias_maps\n",
            "local     unix  -       n       n       -       -       local\n" +
            $"  -o mailbox_command_maps=tcp:127.0.0.1:{rig.Tcp}\n");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: alias_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases (from alias_maps = hash:/etc/aliases $virtual_alias_maps): local(8) refuses socketmap: tables in alias_maps"));
        Assert.That(output, Does.Contain(
            $"error: master.cf service local/unix: mailbox_command_maps: tcp:127.0.0.1:{rig.Tcp}: local(8) refuses tcp: tables in mailbox_command_maps"));
        Assert.That(output, Does.Contain("postfix check: 2 error(s)"), "virtual_alias_maps itself is fine");
    }

    [Test]
    public void Root_owned_0600_socket_is_not_connectable_by_postfix()
    {
        Assume.That(PostfixSocketAccess.Lookup("postfix"), Is.Not.Null, "needs the postfix user (Debian's postfix package)");
        Assume.That(Privileges.IsRoot, "the socket must belong to another user than postfix: run as root");
        using var rig = new Rig(unixListener: ", unix:queue/private/tcptable mode=0600");
        rig.Postfix("virtual_alias_maps = socketmap:unix:private/tcptable:aliases\n", "");
        using var server = ServerProcess.Start("--config", rig.Ini);
        Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: virtual_alias_maps: socketmap:unix:private/tcptable:aliases: Postfix (mail_owner postfix) cannot connect: " +
            $"user postfix has no write permission on {rig.Queue}/private/tcptable (mode 0600 owner root group root)"));
    }

    [Test]
    public void Absolute_socket_path_used_by_a_chrooted_service_is_an_error_naming_the_service()
    {
        using var rig = new Rig(unixListener: ", unix:queue/private/tcptable mode=0666");
        string socket = Path.Combine(rig.Queue, "private", "tcptable");
        rig.Postfix($"virtual_alias_maps = socketmap:unix:{socket}:aliases\n" +
                    $"transport_maps = proxy:socketmap:unix:{socket}:aliases\n" +
                    $"mydestination = socketmap:unix:{socket}:aliases\n",
            "smtp      inet  n       -       y       -       -       smtpd\n" +
            "cleanup   unix  n       -       n       -       0       cleanup\n" +
            "rewrite   unix  -       -       y       -       -       trivial-rewrite\n" +
            "proxymap  unix  -       -       n       -       -       proxymap\n");
        using var server = ServerProcess.Start("--config", rig.Ini);
        Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(78), output);
        Assert.That(output, Does.Contain(
            $"error: virtual_alias_maps: socketmap:unix:{socket}:aliases: service smtp/inet (smtpd) runs chrooted in {rig.Queue}, " +
            $"where {socket} is {rig.Queue}{socket}; write it relative to queue_directory: socketmap:unix:private/tcptable:aliases"));
        Assert.That(output, Does.Not.Contain("service cleanup/unix"), "cleanup is not chrooted");
        Assert.That(output, Does.Not.Contain("error: transport_maps"), "proxy: tables are opened by proxymap, not chrooted here");
        Assert.That(output, Does.Contain($"warning: mydestination: socketmap:unix:{socket}:aliases: which services read mydestination is not known"));
    }

    [Test]
    public void Clean_configuration_passes_and_every_table_answers_a_probe()
    {
        Assume.That(PostfixSocketAccess.Lookup("postfix"), Is.Not.Null, "needs the postfix user (Debian's postfix package)");
        using var mc = MemcachedProcess.Start();
        mc.Set("aliases:" + PostfixCheck.ProbeKey, "probe-answer");
        using var rig = new Rig(mc.Endpoint, ", unix:queue/private/tcptable mode=0660 group=postfix");
        rig.Postfix(
            $"virtual_alias_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases, proxy:socketmap:unix:private/tcptable:aliases\n" +
            $"canonical_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:other\n" +
            $"transport_maps = tcp:127.0.0.1:{rig.Tcp}\n",
            "smtp      inet  n       -       y       -       -       smtpd\n" +
            "cleanup   unix  n       -       y       -       0       cleanup\n" +
            "rewrite   unix  -       -       y       -       -       trivial-rewrite\n" +
            "proxymap  unix  -       -       n       -       -       proxymap\n");
        using var server = ServerProcess.Serve(rig.Ini, rig.Socketmap, rig.Tcp);
        Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
        // relative, as typed in a shell: postmap runs in the queue directory, so the check makes it absolute
        var (code, output) = rig.Check(relative: true);
        Assert.That(code, Is.EqualTo(0), output);
        string probe = $"postmap -q {PostfixCheck.ProbeKey}";
        Assert.That(output, Does.Contain($"ok: virtual_alias_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases: {probe}: found: probe-answer"));
        Assert.That(output, Does.Contain($"ok: virtual_alias_maps: socketmap:unix:private/tcptable:aliases: {probe}: found: probe-answer"),
            "relative socket path, probed from the queue directory");
        Assert.That(output, Does.Contain($"ok: canonical_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:other: {probe}: not found"));
        Assert.That(output, Does.Contain($"ok: transport_maps: tcp:127.0.0.1:{rig.Tcp}: {probe}: found: probe-answer"));
        Assert.That(output, Does.Contain("postfix check: 0 error(s), 0 warning(s), 4 table(s) probed"));
    }

    /// <summary>
    /// Probe failure, our server not running: the probe's connect fails; the report names the
    /// table and the failure, and the check exits 75 (EX_TEMPFAIL: the wiring is right, but
    /// Postfix's lookups would fail now), not 0.
    /// </summary>
    [Test]
    public void Probe_of_a_server_that_is_not_running_names_the_table_and_exits_75()
    {
        using var rig = new Rig();
        rig.Postfix($"virtual_alias_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases\ntransport_maps = tcp:127.0.0.1:{rig.Tcp}\n", "");
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(75), output);
        Assert.That(output, Does.Match(
            $@"warning: virtual_alias_maps: socketmap:inet:127\.0\.0\.1:{rig.Socketmap}:aliases: postmap -q \S+: not run: connect to 127\.0\.0\.1:{rig.Socketmap}: .*refused"));
        Assert.That(output, Does.Match($@"warning: transport_maps: tcp:127\.0\.0\.1:{rig.Tcp}: postmap -q \S+: not run: connect to 127\.0\.0\.1:{rig.Tcp}: "));
        Assert.That(output, Does.Contain("postfix check: 0 error(s), 2 warning(s), 0 table(s) probed"));
    }

    /// <summary>
    /// Probe failure, a map answering a temporary error (memcached down, no backup: the server
    /// answers TEMP, postmap fails with a query error): the report names the table and postmap's
    /// message, and the check exits 75, while a table that answers is reported ok.
    /// </summary>
    [Test]
    public void Probe_of_a_map_answering_a_temporary_error_names_the_table_and_postmaps_message_and_exits_75()
    {
        using var mc = MemcachedProcess.Start();
        int down = FreePort.Next();   // nothing listens there: memcached down
        using var rig = new Rig(mc.Endpoint);
        rig.Dir.File("other.cf", $"memcache = inet:127.0.0.1:{down}\nkey_format = other:%s\n");   // no backup
        rig.Postfix($"virtual_alias_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases\n" +
                    $"canonical_maps = socketmap:inet:127.0.0.1:{rig.Socketmap}:other\n", "");
        using var server = ServerProcess.Serve(rig.Ini, rig.Socketmap, rig.Tcp);
        var (code, output) = rig.Check();
        Assert.That(code, Is.EqualTo(75), output);
        Assert.That(output, Does.Contain($"ok: virtual_alias_maps: socketmap:inet:127.0.0.1:{rig.Socketmap}:aliases: postmap -q {PostfixCheck.ProbeKey}: not found"));
        Assert.That(output, Does.Match(
            $@"warning: canonical_maps: socketmap:inet:127\.0\.0\.1:{rig.Socketmap}:other: postmap -q \S+: exit \d+: postmap: fatal: .*other.*"));
        Assert.That(output, Does.Contain("postfix check: 0 error(s), 1 warning(s), 2 table(s) probed"));
    }
}
