using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Listeners as a mail host deploys them: a UNIX socket with the mode and group Postfix needs
/// (<c>mode=0660 group=...</c>), removed on stop; and sockets passed by systemd socket
/// activation (sd_listen_fds: LISTEN_FDS/LISTEN_FDNAMES), proven with systemd's own
/// <c>systemd-socket-activate</c>, no running systemd needed: a passed TCP and UNIX socket
/// serve, a listener systemd did not pass binds as usual, a passed socket no listener names
/// stops the start.
/// </summary>
[TestFixture, Category("Interop"), System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class UnixAndActivatedListenerTests
{
    private MemcachedProcess mc = null!;

    [OneTimeSetUp]
    public void StartMemcached() => mc = MemcachedProcess.Start();

    [OneTimeTearDown]
    public void StopMemcached() => mc.Dispose();

    private static string? Lookup(string path, string request)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Connect(new UnixDomainSocketEndPoint(path));
        s.Send(Encoding.ASCII.GetBytes(request));
        var buf = new byte[256];
        int n = s.Receive(buf);
        return Encoding.ASCII.GetString(buf, 0, n);
    }

    private static uint Gid(string group) =>
        uint.Parse(File.ReadLines("/etc/group").Select(l => l.Split(':')).First(f => f[0] == group)[2]);

    [Test]
    public void Unix_listener_gets_its_mode_and_group_and_its_file_goes_on_stop()
    {
        using var d = new TempDir();
        string sock = d["tcptable.sock"], tcpSock = d["a.sock"];
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = v}} }}\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = unix:{sock} mode=0660 group=nogroup\n[maps:a]\nconfig = a.cf\ntcp = unix:{tcpSock} mode=0600 owner=nobody\n");
        using (var server = ServerProcess.Start("--config", ini))
        {
            Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
            Assert.That(File.GetUnixFileMode(sock), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
            Assert.That(Stat.Gid(sock), Is.EqualTo(Gid("nogroup")));
            Assert.That(File.GetUnixFileMode(tcpSock), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(Stat.Uid(tcpSock), Is.EqualTo(65534u), "owner=nobody");
            Assert.That(Lookup(sock, "3:a k,"), Is.EqualTo("4:OK v,"));
            Assert.That(Lookup(tcpSock, "get k\n"), Is.EqualTo("200 v\n"));
            Assert.That(server.Terminate(), Is.EqualTo(0));
        }
        Assert.That(File.Exists(sock) || File.Exists(tcpSock), Is.False, "socket files removed on stop");
    }

    [Test]
    public void Metrics_on_a_unix_socket_gets_its_mode_and_group_like_every_listener()
    {
        using var d = new TempDir();
        string sock = d["metrics.sock"];
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = unix:{d["sm.sock"]}\nmetrics = unix:{sock} mode=0660 group=nogroup\n[maps:a]\nconfig = a.cf\n");
        // a stale file from a crashed run is replaced, as for the table listeners
        using (var bind = Process.Start("python3", ["-c", $"import socket; socket.socket(socket.AF_UNIX).bind('{sock}')"]))
            bind.WaitForExit();
        using (var server = ServerProcess.Start("--config", ini))
        {
            Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
            Assert.That(File.GetUnixFileMode(sock), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
            Assert.That(Stat.Gid(sock), Is.EqualTo(Gid("nogroup")));
            Assert.That(Lookup(sock, "GET /health HTTP/1.0\r\n\r\n"), Does.StartWith("HTTP/1.1 200"));
            Assert.That(server.Terminate(), Is.EqualTo(0));
        }
        Assert.That(File.Exists(sock), Is.False, "removed on stop");
    }

    [Test]
    public void A_stale_socket_file_is_replaced_and_a_live_one_stops_the_start()
    {
        using var d = new TempDir();
        string sock = d["tcptable.sock"];
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = v}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = unix:{sock}\n[maps:a]\nconfig = a.cf\n");

        // A crashed run leaves its socket file: bound once, nobody listening any more.
        // (python: .NET removes the file when its socket is disposed)
        using (var bind = Process.Start("python3", ["-c", $"import socket; socket.socket(socket.AF_UNIX).bind('{sock}')"]))
            bind.WaitForExit();
        Assert.That(File.Exists(sock), Is.True);
        using (var server = ServerProcess.Start("--config", ini))
        {
            Assert.That(server.WaitForOutput("ready"), Is.True, server.Stderr + server.Stdout);
            Assert.That(Lookup(sock, "3:a k,"), Is.EqualTo("4:OK v,"), "the stale file was replaced");
            Assert.That(server.Terminate(), Is.EqualTo(0));
        }

        // Another server answering on the path: its socket is left alone and the start fails.
        using var live = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        live.Bind(new UnixDomainSocketEndPoint(sock));
        live.Listen(8);
        using (var second = ServerProcess.Start("--config", ini))
        {
            Assert.That(second.WaitForExit(60), Is.EqualTo(69), second.Stderr + second.Stdout);
            Assert.That(second.Stderr + second.Stdout, Does.Contain("cannot open a listener"));
        }
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(new UnixDomainSocketEndPoint(sock));
        Assert.That(client.Connected, Is.True, "the live server's socket still answers");
    }

    [Test]
    public void Mode_on_an_inet_listener_is_a_configuration_error_with_file_and_line()
    {
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()} mode=0660\n[maps:a]\nconfig = a.cf\n");
        using var server = ServerProcess.Start("--config", ini);
        Assert.That(server.WaitForExit(60), Is.EqualTo(78));
        Assert.That(server.Stderr + server.Stdout, Does.Contain($"{ini}:2").And.Contain("unix: listeners only"));
    }

    private static ServerProcess Activated(string ini, params string[] listen) =>
        ActivatedNamed(ini, [.. listen.Select((l, i) => (l, $"s{i}"))]);

    /// <summary>systemd-socket-activate with each socket's FileDescriptorName= (--fdname, in order).</summary>
    private static ServerProcess ActivatedNamed(string ini, params (string Listen, string Name)[] sockets)
    {
        var args = new List<string>();
        foreach (var (l, _) in sockets) { args.Add("-l"); args.Add(l); }
        args.Add("--fdname=" + string.Join(':', sockets.Select(s => s.Name)));
        args.AddRange(["-E", "DOTNET_NOLOGO=1", "dotnet", ServerProcess.ServerDll, "--config", ini]);
        return ServerProcess.StartProgram("systemd-socket-activate", args.ToArray());
    }

    [Test]
    public void Sockets_passed_by_systemd_serve_and_a_listener_not_passed_binds_as_usual()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), tcp = FreePort.Next();
        string unix = d["sm.sock"];
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = v}} }}\n");
        string ini = d.File("server.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{sm}, unix:{unix}\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcp}\n");
        using var server = Activated(ini, $"127.0.0.1:{sm}", unix);
        // systemd-socket-activate listens, then starts the server at the first connection
        using var first = Connect(() => new TcpLineClient(sm), server);
        Assert.That(SocketmapOver(first), Is.EqualTo("4:OK v,"));
        Assert.That(server.WaitForOutput("passed by systemd", times: 2), Is.True, server.Stderr + server.Stdout);
        Assert.That(Lookup(unix, "3:a k,"), Is.EqualTo("4:OK v,"), "the passed UNIX socket");
        using (var line = new TcpLineClient(tcp))
            Assert.That(line.Get("k"), Is.EqualTo("200 v"), "the tcp listener systemd did not pass was bound by the server");
        Assert.That(server.Terminate(), Is.EqualTo(0));
        Assert.That(File.Exists(unix), Is.True, "systemd's socket file is systemd's to remove");
    }

    [Test]
    public void A_passed_socket_no_listener_names_stops_the_start()
    {
        using var d = new TempDir();
        int sm = FreePort.Next(), stray = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\n");
        using var server = Activated(ini, $"127.0.0.1:{stray}");
        using (Connect(() => new TcpClient("127.0.0.1", stray), server)) { }
        Assert.That(server.WaitForExit(60), Is.EqualTo(78));
        Assert.That(server.Stderr + server.Stdout, Does.Contain($"127.0.0.1:{stray}").And.Contain("no listener"));
    }

    /// <summary>
    /// A listener given as systemd:NAME is served by the socket systemd passed under that
    /// FileDescriptorName= (TCP and UNIX alike), whatever its address. On reload a systemd:
    /// listener that is served stays; a new systemd: listener that no passed socket serves, or
    /// a change to one that is served (its socket could not be had again), is refused with the
    /// old configuration kept.
    /// </summary>
    [Test]
    public void Sockets_passed_by_name_serve_systemd_NAME_listeners_and_a_reload_keeps_them()
    {
        using var d = new TempDir();
        int tcp = FreePort.Next();
        string unix = d["sm.sock"];
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = v}} }}\n");
        string Ini(string socketmapExtra = "", string tcpOptions = "") =>
            $"[server]\nsocketmap = systemd:tcptable-socketmap{socketmapExtra}\n[maps:a]\nconfig = a.cf\ntcp = systemd:tcptable-a{tcpOptions}\n";
        string ini = d.File("server.ini", Ini());
        using var server = ActivatedNamed(ini, ($"127.0.0.1:{tcp}", "tcptable-a"), (unix, "tcptable-socketmap"));
        using (var first = Connect(() => new TcpLineClient(tcp), server))
            Assert.That(first.Get("k"), Is.EqualTo("200 v"), "the TCP socket named tcptable-a serves map a's tcp listener");
        Assert.That(server.WaitForOutput("passed by systemd", times: 2), Is.True, server.Stderr + server.Stdout);
        Assert.That(Lookup(unix, "3:a k,"), Is.EqualTo("4:OK v,"), "the UNIX socket named tcptable-socketmap serves socketmap");

        // a new systemd: listener systemd did not pass: refused, everything still served
        File.WriteAllText(ini, Ini(socketmapExtra: ", systemd:tcptable-new"));
        server.Hangup();
        Assert.That(server.WaitForOutput("reload failed"), Is.True, server.Stderr + server.Stdout);
        Assert.That(server.Stderr, Does.Contain($"{ini}:2: listener systemd:tcptable-new: systemd passed no socket named \"tcptable-new\""));
        Assert.That(Lookup(unix, "3:a k,"), Is.EqualTo("4:OK v,"));

        // the tcp listener's options change: systemd's socket cannot be bound again, so the
        // reload is refused and the listener keeps serving it
        File.WriteAllText(ini, Ini(tcpOptions: " max_connections=50"));
        server.Hangup();
        Assert.That(server.WaitForOutput("reload failed", times: 2), Is.True, server.Stderr + server.Stdout);
        Assert.That(server.Stderr, Does.Contain("listener(s) tcp systemd:tcptable-a serve sockets passed by systemd"));
        using (var again = new TcpLineClient(tcp))
            Assert.That(again.Get("k"), Is.EqualTo("200 v"), "still served from systemd's socket");
        Assert.That(Lookup(unix, "3:a k,"), Is.EqualTo("4:OK v,"));
        Assert.That(server.Terminate(), Is.EqualTo(0));
    }

    /// <summary>A systemd:NAME listener with no socket of that name passed: a configuration error naming file and line (exit 78).</summary>
    [Test]
    public void A_systemd_NAME_listener_systemd_did_not_pass_stops_the_start_with_file_and_line()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{sm}\n[maps:a]\nconfig = a.cf\ntcp = systemd:tcptable-a\n");
        using var server = ActivatedNamed(ini, ($"127.0.0.1:{sm}", "tcptable-socketmap"));
        using (Connect(() => new TcpClient("127.0.0.1", sm), server)) { }
        Assert.That(server.WaitForExit(60), Is.EqualTo(78), server.Stderr + server.Stdout);
        Assert.That(server.Stderr + server.Stdout, Does.Contain($"{ini}:5: listener systemd:tcptable-a: systemd passed no socket named \"tcptable-a\"")
            .And.Contain("tcptable-socketmap (fd 3"));
    }

    /// <summary>
    /// A socket systemd passes under systemd:NAME on a wildcard address (0.0.0.0) is reachable
    /// from other machines: without an allow list only loopback could connect, so the start
    /// stops (exit 78) naming the INI line, as for an address listener; with [server] allow the
    /// same socket serves.
    /// </summary>
    [Test]
    public void A_passed_socket_reachable_from_other_machines_needs_an_allow_list()
    {
        using var d = new TempDir();
        int sm = FreePort.Next();
        d.File("a.cf", $"memcache = {mc.Endpoint}\nbackup = inline:{{ {{k = v}} }}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = systemd:tcptable-open\n[maps:a]\nconfig = a.cf\n");
        using (var server = ActivatedNamed(ini, ($"0.0.0.0:{sm}", "tcptable-open")))
        {
            using (Connect(() => new TcpClient("127.0.0.1", sm), server)) { }
            Assert.That(server.WaitForExit(60), Is.EqualTo(78), server.Stderr + server.Stdout);
            Assert.That(server.Stderr + server.Stdout, Does.Contain($"{ini}:2: listener systemd:tcptable-open: the passed socket tcptable-open")
                .And.Contain("is reachable from other machines but the listener has no allow list"));
        }

        File.WriteAllText(ini, $"[server]\nsocketmap = systemd:tcptable-open\nallow = 10.0.0.0/8\n[maps:a]\nconfig = a.cf\n");
        using (var server = ActivatedNamed(ini, ($"0.0.0.0:{sm}", "tcptable-open")))
        {
            using var first = Connect(() => new TcpLineClient(sm), server);
            Assert.That(SocketmapOver(first), Is.EqualTo("4:OK v,"), "with an allow list the passed socket serves (loopback always allowed)");
            Assert.That(server.Terminate(), Is.EqualTo(0));
        }
    }

    /// <summary>
    /// `check --config` accepts systemd:NAME table listeners (whether systemd passes them is
    /// known only at start) and refuses one for metrics (Kestrel's own listener) or with
    /// mode= (systemd's SocketMode= sets the file's mode), naming file and line.
    /// </summary>
    [Test]
    public void Check_accepts_systemd_NAME_listeners_and_refuses_them_for_metrics_or_with_mode()
    {
        using var d = new TempDir();
        d.File("a.cf", $"memcache = {mc.Endpoint}\n");
        string Check(string server, string map = "tcp = systemd:tcptable-a max_connections=5")
        {
            string ini = d.File("server.ini", $"[server]\n{server}\n[maps:a]\nconfig = a.cf\n{map}\n");
            using var p = ServerProcess.Start("check", "--config", ini);
            int code = p.WaitForExit(60);
            return $"{code} {p.Stdout}{p.Stderr}";
        }
        Assert.That(Check("socketmap = systemd:tcptable-socketmap, inet:127.0.0.1:9"), Does.StartWith("0 ").And.Contain("ok"));
        Assert.That(Check($"socketmap = systemd:x\nmetrics = systemd:m"), Does.StartWith("78 ").And.Contain("server.ini:3: metrics").And.Contain("cannot be a systemd: socket"));
        Assert.That(Check("socketmap = systemd:x mode=0660"), Does.StartWith("78 ").And.Contain("server.ini:2:").And.Contain("unix: listeners only"));
        Assert.That(Check("socketmap = systemd:x, systemd:x"), Does.StartWith("78 ").And.Contain("used twice"));
        Assert.That(Check("socketmap = systemd:"), Does.StartWith("78 ").And.Contain("FileDescriptorName="));
    }

    /// <summary>Connects once the wrapper listens (it binds after it started).</summary>
    private static T Connect<T>(Func<T> connect, ServerProcess server)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try { return connect(); }
            catch (SocketException) when (DateTime.UtcNow < deadline && !server.HasExited) { Thread.Sleep(20); }
        }
    }

    /// <summary>One socketmap request over a connection opened as a line client (raw bytes both ways).</summary>
    private static string SocketmapOver(TcpLineClient c) => c.Raw("3:a k,", 7);
}

/// <summary>File ownership as stat(1) reports it.</summary>
internal static class Stat
{
    public static uint Gid(string path) => Field(path, "%g");

    public static uint Uid(string path) => Field(path, "%u");

    private static uint Field(string path, string format)
    {
        var psi = new ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return uint.Parse(output.Trim());
    }
}
