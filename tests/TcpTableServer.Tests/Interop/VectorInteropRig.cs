using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>The Postfix client a vector goes through (spec 1 and 2).</summary>
public enum Protocol
{
    /// <summary>`socketmap:inet:127.0.0.1:PORT:NAME` (spec 2), one listener for every map.</summary>
    Socketmap,
    /// <summary>`tcp:127.0.0.1:PORT` (spec 1), one listener per map.</summary>
    Tcp,
}

/// <summary>Which persistent table stands for the spec's "backup" (spec 7.1).</summary>
public enum BackupKind
{
    /// <summary>Read-only <c>texthash:</c> files holding the entries the lookup vectors need.</summary>
    Texthash,
    /// <summary>Writable, initially empty <c>lmdb:</c> files (one per map), for the update vectors.</summary>
    Lmdb,
}

/// <summary>
/// Every configuration of spec 7.2 (A..W) as one server process: each under its socketmap
/// name and on its own tcp port, all pointing at one memcached endpoint (the fake or the real
/// one), "127.0.0.1:11299" replaced by a closed port, "backup" a texthash or lmdb file, the
/// failing backup <c>fail:backup</c> and the failing domain table <c>fail:domains</c>.
/// Extra maps: <c>backed_nokey</c> and <c>downbk_nokey</c> (configurations B and K2 with a
/// backup that lacks <c>user@example.com</c>, for V15/V19, whose backups differ from V14/V18's),
/// <c>readonly</c> (configuration A without <c>allow_put</c>, S11) and <c>plainbig</c>
/// (configuration C with <c>data_size_limit = 200000</c>, S21). Every other map allows
/// tcp <c>put</c> (spec 1.8).
/// </summary>
internal sealed class VectorInteropRig : IDisposable
{
    public static readonly IReadOnlyDictionary<string, (string Name, string[] Lines)> Configs =
        new Dictionary<string, (string, string[])>(SpecConfigurations.All)
        {
            // not in 7.2: see the class comment
            ["B-nokey"] = ("backed_nokey", ["memcache = {mc}", "key_format = aliases:%s", "backup = {nokey}", "ttl = 600", "flags = 7"]),
            ["K2-nokey"] = ("downbk_nokey", ["memcache = {down}", "key_format = aliases:%s", "backup = {nokey}"]),
            ["A-readonly"] = ("readonly", ["memcache = {mc}", "key_format = aliases:%s"]),
            ["C-big"] = ("plainbig", ["memcache = {mc}", "data_size_limit = 200000"]),
        };

    /// <summary>The texthash "backup" entries of V14, V18, V23, V24, V27 (keys lower case).</summary>
    private const string BackupEntries = "user@example.com from-backup\nk6 0123456789\nuser@other.org x\n";

    /// <summary>The texthash backup of V15 and V19: everything but <c>user@example.com</c>.</summary>
    private const string NokeyEntries = "other@example.com x\n";

    private readonly TempDir _dir = new();
    private readonly Dictionary<string, int> _tcpPorts = new(StringComparer.Ordinal);
    private int _stderrMark;

    public string IniPath { get; }
    public int SocketmapPort { get; }
    public string DownEndpoint { get; }
    public Postfix Postfix { get; }
    public ServerProcess? Server { get; }
    public string Directory => _dir.Path;

    /// <param name="memcached">memcache endpoint (<c>inet:127.0.0.1:PORT</c>).</param>
    /// <param name="backups">what "backup" is.</param>
    /// <param name="serve">start the server process (false: only write the INI, for the CLI).</param>
    public VectorInteropRig(string memcached, BackupKind backups, bool serve = true)
    {
        Postfix = new Postfix(_dir.Path);
        DownEndpoint = $"127.0.0.1:{FreePort.Closed()}";
        var ports = DistinctPorts(Configs.Count + 1);
        SocketmapPort = ports[0];
        // as this rig's Postfix (main.cf smtputf8_enable = no): the vectors of spec 7.3 are ASCII folding (V07)
        var ini = new StringBuilder($"[server]\nsocketmap = inet:127.0.0.1:{SocketmapPort}\nsmtputf8_enable = no\n");
        int i = 1;
        foreach (var (id, (name, lines)) in Configs)
        {
            var text = string.Join("\n", lines.Select(l => l
                .Replace("{mc}", memcached)
                .Replace("{down}", "inet:" + DownEndpoint)
                .Replace("{backup}", BackupSpec(backups, name, "backup", BackupEntries))
                .Replace("{nokey}", BackupSpec(backups, name, "backup-nokey", NokeyEntries)))) + "\n";
            _dir.Write(name + ".cf", text);
            _tcpPorts[name] = ports[i++];
            ini.Append($"\n[maps:{name}]\nconfig = {name}.cf\ntcp = inet:127.0.0.1:{_tcpPorts[name]}\n");
            // every warning of every vector, as Postfix logs them (a shared server would otherwise
            // summarise a second test's warnings with the first's)
            ini.Append("warning_interval = 0\n");
            if (id != "A-readonly") ini.Append("allow_put = yes\n");
        }
        IniPath = _dir.Write("server.ini", ini.ToString());
        if (serve) Server = ServerProcess.Serve(IniPath, [SocketmapPort, .. _tcpPorts.Values]);
    }

    private static int[] DistinctPorts(int count)
    {
        var ports = new HashSet<int>();
        while (ports.Count < count) ports.Add(FreePort.Next());
        return [.. ports];
    }

    /// <summary>
    /// texthash: one shared file with <paramref name="entries"/>; lmdb: an empty database per
    /// map (so that updates of one vector never show up in another's backup), made by postmap.
    /// </summary>
    private string BackupSpec(BackupKind kind, string map, string file, string entries)
    {
        if (kind == BackupKind.Texthash)
        {
            if (!File.Exists(_dir[file])) _dir.Write(file, entries);
            return $"texthash:{_dir[file]}";
        }
        string source = _dir.Write($"{file}-{map}", "");
        Postfix.PostmapChecked([$"lmdb:{source}"]);
        return $"lmdb:{source}";
    }

    /// <summary>The Postfix table name of <paramref name="map"/> over <paramref name="protocol"/>.</summary>
    public string Table(Protocol protocol, string map) => protocol == Protocol.Socketmap
        ? $"socketmap:inet:127.0.0.1:{SocketmapPort}:{map}"
        : $"tcp:127.0.0.1:{TcpPort(map)}";

    public int TcpPort(string map) => _tcpPorts[map];

    /// <summary>
    /// `postmap -q KEY TABLE` with the time until its answer. The key is an octet string
    /// (UTF-8 bytes as Latin-1 chars). A lookup error ends postmap with "fatal: ... query
    /// error", after which Postfix's msg_fatal() sleeps 1 s before exiting: the process is
    /// killed as soon as that line arrives (exit code 1, as postmap's own), so that the
    /// elapsed time is the server's and the suite does not pay the sleep.
    /// </summary>
    public (Postfix.Result Result, TimeSpan Elapsed) Query(Protocol protocol, string map, string octetKey)
    {
        var psi = new ProcessStartInfo("/usr/sbin/postmap")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.Latin1,
            StandardErrorEncoding = Encoding.Latin1,
        };
        foreach (var a in new[] { "-c", Postfix.ConfigDir, "-q", Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(octetKey)), Table(protocol, map) })
            psi.ArgumentList.Add(a);
        var clock = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        var stderr = new StringBuilder();
        var fatal = new ManualResetEventSlim();
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.AppendLine(e.Data);
            if (e.Data.Contains("fatal:", StringComparison.Ordinal)) fatal.Set();
        };
        p.Start();
        p.BeginErrorReadLine();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var exited = Task.Run(() => p.WaitForExit(60000));
        if (WaitHandle.WaitAny([fatal.WaitHandle, ((IAsyncResult)exited).AsyncWaitHandle], 60000) == WaitHandle.WaitTimeout)
        {
            p.Kill();
            throw new TimeoutException($"postmap -q {octetKey} {Table(protocol, map)}");
        }
        var elapsed = clock.Elapsed;
        int exit;
        if (fatal.IsSet && !p.HasExited)
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            exit = 1;
        }
        else exit = -1;
        p.WaitForExit();
        if (exit < 0) exit = p.ExitCode;
        lock (stderr) return (new Postfix.Result(exit, stdout.Result, stderr.ToString()), elapsed);
    }

    /// <summary>`dotnet TcpTableServer.dll --config INI ARGS` (the CLI verbs); octet-string arguments.</summary>
    public (int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed) Cli(params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.Latin1,
        };
        psi.ArgumentList.Add(ServerProcess.ServerDll);
        psi.ArgumentList.Add("--config");
        psi.ArgumentList.Add(IniPath);
        foreach (var a in args) psi.ArgumentList.Add(Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(a)));
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60000)) { p.Kill(); throw new TimeoutException(string.Join(' ', args)); }
        return (p.ExitCode, output, err.Result, clock.Elapsed);
    }

    /// <summary>Forgets the server's log so far (see <see cref="LogSinceMark"/>).</summary>
    public void MarkLog() => _stderrMark = Server?.Stderr.Length ?? 0;

    /// <summary>The server's stderr since <see cref="MarkLog"/>.</summary>
    public string LogSinceMark() => Server is null ? "" : Server.Stderr[_stderrMark..];

    /// <summary>
    /// Waits (at most 5 s: stderr crosses a pipe) until the log since the mark holds
    /// <paramref name="count"/> lines containing <paramref name="warning"/>, then asserts the count.
    /// </summary>
    public void AssertWarning(string warning, int count = 1)
    {
        int Count() => LogSinceMark().Split('\n').Count(l => l.StartsWith("warn", StringComparison.Ordinal) && l.Contains(warning, StringComparison.Ordinal));
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Count() < count && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Thread.Sleep(50);
        Assert.That(Count(), Is.EqualTo(count), $"server warnings \"{warning}\" in:\n{LogSinceMark()}");
    }

    /// <summary>Asserts that the server logged no warning since the mark (after letting stderr drain).</summary>
    public void AssertNoWarning()
    {
        Thread.Sleep(150);
        Assert.That(LogSinceMark().Split('\n').Where(l => l.StartsWith("warn", StringComparison.Ordinal)), Is.Empty, "server warnings");
    }

    /// <summary>Remaining ttl in seconds of an item on a real memcached (meta get), -1 = never expires, null = absent.</summary>
    public static int? RemainingTtl(MemcachedProcess mc, string key)
    {
        var reply = Encoding.Latin1.GetString(mc.Raw(Encoding.Latin1.GetBytes($"mg {key} t\r\n"), "\r\n"));
        if (!reply.StartsWith("HD", StringComparison.Ordinal)) return null;
        return int.Parse(reply.Trim().Split(' ').Single(w => w.StartsWith('t'))[1..]);
    }

    public void Dispose()
    {
        Server?.Dispose();
        _dir.Dispose();
    }
}
