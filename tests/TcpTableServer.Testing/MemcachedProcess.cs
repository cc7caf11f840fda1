using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// A real memcached (Debian package) on a free loopback port, started for a test and
/// stopped on dispose. Also a tiny raw client to seed and read items (flags included).
/// </summary>
public sealed class MemcachedProcess : IDisposable
{
    private readonly Process _process;
    public int Port { get; }
    public string Endpoint => $"inet:127.0.0.1:{Port}";
    public int Pid => _process.Id;

    private MemcachedProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>A memcached on a free port, or on <paramref name="port"/> (a node that comes back where it was).</summary>
    public static MemcachedProcess Start(int? fixedPort = null)
    {
        var exe = File.Exists("/usr/bin/memcached") ? "/usr/bin/memcached" : "memcached";
        for (int attempt = 0; ; attempt++)
        {
            int port = fixedPort ?? FreePort.Next();
            var psi = new ProcessStartInfo(exe, $"-l 127.0.0.1 -p {port} -U 0 -m 64 -u root")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start memcached");
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (DateTime.UtcNow < deadline && !p.HasExited)
            {
                try
                {
                    using var c = new TcpClient();
                    c.Connect("127.0.0.1", port);
                    return new MemcachedProcess(p, port);
                }
                catch (SocketException) { Thread.Sleep(20); }
            }
            try { p.Kill(); } catch (InvalidOperationException) { }
            if (attempt >= 3) throw new InvalidOperationException($"memcached did not start: {p.StandardError.ReadToEnd()}");
        }
    }

    /// <summary>Sends raw command bytes and returns the raw reply (until <paramref name="terminator"/>).</summary>
    public byte[] Raw(byte[] command, string terminator)
    {
        using var c = new TcpClient("127.0.0.1", Port);
        var s = c.GetStream();
        s.Write(command);
        var buf = new MemoryStream();
        var chunk = new byte[65536];
        var term = Encoding.Latin1.GetBytes(terminator);
        while (true)
        {
            int n = s.Read(chunk);
            if (n == 0) break;
            buf.Write(chunk, 0, n);
            if (EndsWith(buf, term)) break;
        }
        return buf.ToArray();
    }

    private static bool EndsWith(MemoryStream m, byte[] t)
    {
        if (m.Length < t.Length) return false;
        var a = m.GetBuffer();
        for (int i = 0; i < t.Length; i++) if (a[m.Length - t.Length + i] != t[i]) return false;
        return true;
    }

    /// <summary>Stores an item; key and value are octet strings (Latin-1 chars = bytes).</summary>
    public void Set(string key, string value, int flags = 0, int ttl = 0)
    {
        var v = Encoding.Latin1.GetBytes(value);
        var cmd = Encoding.Latin1.GetBytes($"set {key} {flags} {ttl} {v.Length}\r\n").Concat(v).Concat("\r\n"u8.ToArray()).ToArray();
        var reply = Encoding.Latin1.GetString(Raw(cmd, "\r\n"));
        if (reply != "STORED\r\n") throw new InvalidOperationException($"set {key}: {reply}");
    }

    /// <summary>Reads an item: (value, flags), or null when memcached has none.</summary>
    public (string Value, int Flags)? Get(string key)
    {
        var reply = Encoding.Latin1.GetString(Raw(Encoding.Latin1.GetBytes($"get {key}\r\n"), "END\r\n"));
        if (reply == "END\r\n") return null;
        // VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n
        int eol = reply.IndexOf("\r\n", StringComparison.Ordinal);
        var head = reply[..eol].Split(' ');
        int len = int.Parse(head[3]);
        return (reply.Substring(eol + 2, len), int.Parse(head[2]));
    }

    /// <summary>
    /// Freezes memcached with SIGSTOP: the kernel still accepts its connections and queues
    /// requests, nothing answers. Returns once every thread of memcached is stopped (kill()
    /// returns before the stop takes effect, and a thread still running would answer a request
    /// sent just after). The returned object sends SIGCONT on <see cref="Frozen.Resume"/> or
    /// dispose, whichever comes first: <c>using (mc.Freeze()) { ... }</c>.
    /// </summary>
    public Frozen Freeze()
    {
        Send(Pid, SigStop);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!Stopped(Pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                Send(Pid, SigCont);
                throw new InvalidOperationException($"memcached (pid {Pid}) did not stop within 10 s of SIGSTOP");
            }
            Thread.Sleep(5);
        }
        return new Frozen(Pid);
    }

    /// <summary>A memcached frozen by <see cref="Freeze"/>; resumed (SIGCONT) once, by Resume or Dispose.</summary>
    public sealed class Frozen : IDisposable
    {
        private readonly int _pid;
        private bool _resumed;

        internal Frozen(int pid) => _pid = pid;

        /// <summary>Sends SIGCONT now (a test that checks what happens once memcached answers again).</summary>
        public void Resume()
        {
            if (_resumed) return;
            _resumed = true;
            Send(_pid, SigCont);
        }

        /// <summary>Resumes memcached if the test has not; never throws (it may run while a failure unwinds).</summary>
        public void Dispose()
        {
            try { Resume(); }
            catch (InvalidOperationException) { }
        }
    }

    private const int SigStop = 19, SigCont = 18;   // Linux x86-64 and arm64 numbers

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static void Send(int pid, int signal)
    {
        if (Kill(pid, signal) != 0)
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Every thread of process <paramref name="pid"/> is stopped (state T in /proc/PID/task/*/stat).</summary>
    private static bool Stopped(int pid) =>
        Directory.GetDirectories($"/proc/{pid}/task").All(t =>
        {
            string stat = File.ReadAllText(Path.Combine(t, "stat"));
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('T');
        });

    /// <summary>Empties the cache for the next test (flush_all, then verified by the caller's reads).</summary>
    public void FlushAll() => Raw("flush_all\r\n"u8.ToArray(), "\r\n");

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

public static class MemcachedDump
{
    /// <summary>
    /// Keys that memcached lists with `lru_crawler metadump all` (URL-decoded). It may skip
    /// items, so callers read every candidate key back with get instead of trusting it.
    /// </summary>
    public static HashSet<string> Keys(this MemcachedProcess mc)
    {
        var dump = System.Text.Encoding.Latin1.GetString(mc.Raw("lru_crawler metadump all\r\n"u8.ToArray(), "END\r\n"));
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in dump.Split('\n')) // metadump ends its lines with a bare LF, END with CRLF
        {
            var line = raw.TrimEnd('\r');
            if (!line.StartsWith("key=", StringComparison.Ordinal)) continue;
            var enc = line[4..line.IndexOf(' ')];
            keys.Add(System.Text.Encoding.Latin1.GetString(System.Web.HttpUtility.UrlDecodeToBytes(enc, System.Text.Encoding.Latin1)));
        }
        return keys;
    }
}
