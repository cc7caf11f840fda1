using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// Our real server binary (TcpTableServer.dll, copied beside the tests) run as a separate
/// process on a given INI file, as an operator runs it. Waits until every listed port
/// accepts; stops with SIGTERM on dispose. Standard error is captured for assertions.
/// </summary>
public sealed class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _stdout = new();

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }
    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    public int Pid => _process.Id;

    private ServerProcess(Process p) => _process = p;

    /// <summary>
    /// The server started by <see cref="Start"/>: TcpTableServer.dll beside this assembly, or
    /// $TCPTABLESERVER_SERVER_DLL, or what the differential harness's --server-dll sets (to run
    /// against another build of the server, e.g. the code before a fix).
    /// </summary>
    public static string ServerDll { get; set; } =
        Environment.GetEnvironmentVariable("TCPTABLESERVER_SERVER_DLL") is { Length: > 0 } dll
            ? dll : Path.Combine(AppContext.BaseDirectory, "TcpTableServer.dll");

    /// <summary>Starts `dotnet TcpTableServer.dll ARGS` with output captured.</summary>
    public static ServerProcess Start(params string[] args) => StartProgram("dotnet", [ServerDll, .. args]);

    /// <summary>Starts <paramref name="program"/> (a wrapper that runs the server, e.g. systemd-socket-activate) with output captured.</summary>
    public static ServerProcess StartProgram(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        var p = new Process { StartInfo = psi };
        var sp = new ServerProcess(p);
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (sp._stderr) sp._stderr.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (sp._stdout) sp._stdout.AppendLine(e.Data); };
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return sp;
    }

    /// <summary>Starts the server on <paramref name="ini"/> and waits for its TCP ports.</summary>
    public static ServerProcess Serve(string ini, params int[] ports)
    {
        var sp = Start("--config", ini);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        foreach (var port in ports)
        {
            while (!Accepts(port))
            {
                if (sp.HasExited) throw new InvalidOperationException($"server exited {sp.ExitCode}: {sp.Stderr}");
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"server not listening on {port}: {sp.Stderr}");
                Thread.Sleep(50);
            }
        }
        return sp;
    }

    private static bool Accepts(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>Waits for the process to exit by itself; returns its exit code.</summary>
    public int WaitForExit(int seconds = 30)
    {
        if (!_process.WaitForExit(seconds * 1000)) throw new TimeoutException($"server still running: {Stderr}");
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, as systemd stops a service; returns the exit code.</summary>
    public int Terminate(int seconds = 30)
    {
        if (!_process.HasExited) Kill(_process.Id, 15);
        return WaitForExit(seconds);
    }

    /// <summary>SIGKILL (kill -9): no shutdown code runs; returns after the process is gone.</summary>
    public void KillHard()
    {
        if (!_process.HasExited) Kill(_process.Id, 9);
        _process.WaitForExit();
    }

    /// <summary>SIGHUP: the server reloads its configuration.</summary>
    public void Hangup() => Kill(_process.Id, 1);

    /// <summary>Waits until the server's output contains <paramref name="text"/> <paramref name="times"/> times.</summary>
    public bool WaitForOutput(string text, int times = 1, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            string all = Stderr + Stdout;
            int n = 0;
            for (int i = all.IndexOf(text, StringComparison.Ordinal); i >= 0; i = all.IndexOf(text, i + text.Length, StringComparison.Ordinal)) n++;
            if (n >= times) return true;
            if (HasExited) return false;
            Thread.Sleep(20);
        }
        return false;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Kill(_process.Id, 15);
                if (!_process.WaitForExit(10000)) _process.Kill(true);
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
