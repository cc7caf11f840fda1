using System.Diagnostics;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Access control through the real server: a client outside the allow list is closed before a
/// byte is read, loopback always passes, and tcp puts need put_allow. A client that is not
/// loopback needs a second address: the scenario runs in a network namespace of its own
/// (`unshare --net`, root) whose lo also holds 192.0.2.1 (TEST-NET-1, not a loopback address); no packet
/// leaves that namespace.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class AccessControlTests
{
    /// <summary>
    /// Serves a map (memcached closed, inline backup a=1) on 0.0.0.0:PORT inside a fresh network
    /// namespace with the given [server] and map lines, then runs each request from each source
    /// address and prints "SOURCE REQUEST -> REPLY" lines (REPLY "" when closed without reply).
    /// </summary>
    private static string Scenario(string serverLines, string mapLines, params (string From, string Request)[] requests)
    {
        using var d = new TempDir();
        d.File("a.cf", $"memcache = inet:127.0.0.1:{FreePort.Closed()}\nbackup = inline:{{a=1}}\nmax_try = 1\n");
        int port = FreePort.Next();
        string ini = d.File("server.ini", $"[server]\n{serverLines}\n[maps:a]\nconfig = a.cf\ntcp = inet:0.0.0.0:{port}\n{mapLines}\n");
        var script = new System.Text.StringBuilder($$"""
            set -u
            ip link set lo up
            ip addr add 192.0.2.1/32 dev lo || exit 90
            dotnet "{{ServerProcess.ServerDll}}" --config "{{ini}}" 2>"{{d.Path}}/server.log" &
            server=$!
            # wait for the listener (a loaded machine starts dotnet slowly: up to 60 s)
            for i in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/{{port}}) 2>/dev/null && break; sleep 0.1; done
            ask() {  # ask SOURCE REQUEST: connect from SOURCE (bound with python), send, read the reply
              python3 - "$1" "$2" <<'PY'
            import socket, sys
            s = socket.socket(); s.bind((sys.argv[1], 0)); s.settimeout(3)
            try:
                # inside the try: a refused client is reset, and the reset can reach connect()
                # itself when it lands before the connecting thread runs again
                s.connect(("192.0.2.1" if sys.argv[1] != "127.0.0.1" else "127.0.0.1", {{port}}))
                s.sendall(sys.argv[2].encode() + b"\n"); data = s.recv(100)
            except OSError:
                data = b""
            print(sys.argv[1], sys.argv[2], "->", data.decode().strip())
            PY
            }

            """);
        foreach (var (from, request) in requests) script.Append($"ask {from} '{request}'\n");
        script.Append("kill $server; wait $server\ncat \"" + d.Path + "/server.log\" >&2\n");
        var psi = new ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--net", "bash", "-c", script.ToString() }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd(), log = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode == 90) Assert.Ignore("cannot add an address in a new network namespace here");
        return output + "\n--- server log ---\n" + log;
    }

    [Test]
    public void A_client_outside_the_allow_list_is_closed_without_reply_loopback_and_listed_clients_are_served()
    {
        string narrow = Scenario("allow = 10.0.0.0/8", "", ("192.0.2.1", "get a"), ("127.0.0.1", "get a"));
        Assert.That(narrow, Does.Contain("192.0.2.1 get a -> \n").Or.Contain("192.0.2.1 get a -> \r"), narrow);
        Assert.That(narrow, Does.Contain("127.0.0.1 get a -> 200 1"), narrow);
        Assert.That(narrow, Does.Contain("refused connection from 192.0.2.1: not in the allow list"), narrow);

        string wide = Scenario("allow = 192.0.2.0/24", "", ("192.0.2.1", "get a"));
        Assert.That(wide, Does.Contain("192.0.2.1 get a -> 200 1"), wide);
    }

    [Test]
    public void A_put_needs_put_allow_loopback_always_may()
    {
        string s = Scenario("allow = 192.0.2.0/24", "allow_put = yes",
            ("192.0.2.1", "put b 2"), ("127.0.0.1", "put c 3"));
        Assert.That(s, Does.Contain("192.0.2.1 put b 2 -> 400 bad-request"), s);
        Assert.That(s, Does.Not.Contain("192.0.2.1 put b 2 -> 200"), s);

        string allowed = Scenario("allow = 192.0.2.0/24", "allow_put = yes\nput_allow = 192.0.2.1", ("192.0.2.1", "put b 2"));
        // The put reaches the map (whose inline backup is read-only: 400 configuration-error, spec 3.11).
        Assert.That(allowed, Does.Contain("192.0.2.1 put b 2 -> 400 configuration-error"), allowed);
    }

    [Test]
    public void A_listener_reachable_from_other_machines_without_allow_list_refuses_to_start()
    {
        using var d = new TempDir();
        d.File("a.cf", "memcache = inet:127.0.0.1:11211\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:0.0.0.0:{FreePort.Next()}\n[maps:a]\nconfig = a.cf\n");
        using var p = ServerProcess.Start("--config", ini);
        Assert.That(p.WaitForExit(60), Is.EqualTo(78));
        Assert.That(p.Stderr, Does.Contain("server.ini:2").And.Contain("has no allow list"));
    }
}
