using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// A temporary full Postfix instance (`postfix -c DIR start`) with its own configuration,
/// queue and data directories under a <see cref="TempDir"/>, for daemons that need the
/// master (smtpd with trivial-rewrite, trivial-rewrite's resolve service). Needs root (the
/// data directory belongs to the postfix user) and Debian's Postfix; stopped on dispose.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PostfixInstance : IDisposable
{
    private readonly TempDir _dir;

    public string Etc => _dir["etc"];
    public string Queue => _dir["queue"];
    public string Log => _dir["maillog"];

    public static bool Available =>
        File.Exists("/usr/sbin/postfix") && File.Exists("/usr/lib/postfix/sbin/smtpd") && Environment.UserName == "root";

    /// <param name="dir">where the instance lives (must be searchable by the postfix user)</param>
    /// <param name="main">main.cf lines after the instance's own (directories, logging, loopback only)</param>
    /// <param name="master">master.cf services besides trivial-rewrite, anvil, proxymap and postlogd</param>
    public PostfixInstance(TempDir dir, string main, string master)
    {
        _dir = dir;
        File.SetUnixFileMode(dir.Path, (UnixFileMode)Convert.ToInt32("755", 8));
        Directory.CreateDirectory(Etc);
        Directory.CreateDirectory(Queue);
        Directory.CreateDirectory(_dir["data"]);
        Run("chown", "postfix", _dir["data"]);
        File.WriteAllText(Path.Combine(Etc, "main.cf"), $"""
            compatibility_level = 3.6
            queue_directory = {Queue}
            data_directory = {_dir["data"]}
            mail_owner = postfix
            setgid_group = postdrop
            maillog_file = {Log}
            maillog_file_prefixes = {dir.Path}
            inet_interfaces = 127.0.0.1
            inet_protocols = ipv4
            myhostname = mx.example.test
            mydomain = example.test
            mydestination =
            local_recipient_maps =
            alias_maps =
            smtputf8_enable = no
            smtpd_authorized_xclient_hosts = 127.0.0.0/8
            smtpd_client_connection_count_limit = 0
            smtpd_error_sleep_time = 0
            smtpd_soft_error_limit = 1000
            smtpd_hard_error_limit = 1000

            """ + main + "\n");
        File.WriteAllText(Path.Combine(Etc, "master.cf"), """
            rewrite unix - - n - - trivial-rewrite
            anvil unix - - n - 1 anvil
            proxymap unix - - n - - proxymap
            postlog unix-dgram n - n - 1 postlogd

            """ + master + "\n");
        Run("/usr/sbin/postfix", "-c", Etc, "start");
    }

    /// <summary>`postmap -c ETC hash:FILE` (a hash: table for the instance).</summary>
    public void Postmap(string file) => Run("/usr/sbin/postmap", "-c", Etc, "hash:" + file);

    /// <summary>Waits until <paramref name="port"/> (an smtpd of master.cf) accepts.</summary>
    public void WaitFor(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }

    private static void Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60000)) p.Kill();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {output}{err.Result}");
    }

    public void Dispose()
    {
        try { Run("/usr/sbin/postfix", "-c", Etc, "stop"); }
        catch (InvalidOperationException) { }
    }
}

/// <summary>One SMTP session, one command at a time (Latin-1 octets).</summary>
public sealed class SmtpSession : IDisposable
{
    private readonly TcpClient _client = new();
    private readonly StreamReader _reader;
    private readonly Stream _stream;

    public SmtpSession(int port)
    {
        _client.Connect("127.0.0.1", port);
        _client.ReceiveTimeout = 20000;
        _stream = _client.GetStream();
        _reader = new StreamReader(_stream, Encoding.Latin1);
        Reply();
    }

    /// <summary>Sends a command; returns the last line of its reply.</summary>
    public string Send(string command)
    {
        _stream.Write(Encoding.Latin1.GetBytes(command + "\r\n"));
        return Reply();
    }

    private string Reply()
    {
        while (true)
        {
            string line = _reader.ReadLine() ?? throw new IOException("connection closed");
            if (line.Length < 4 || line[3] == ' ') return line;
        }
    }

    public void Dispose() => _client.Dispose();
}
