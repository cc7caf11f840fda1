using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>
/// <c>TcpTableServer reload --config FILE</c>: checks the configuration as <c>check</c> does
/// (a broken file is reported here, with file and line, and no signal is sent), then sends
/// SIGHUP to the servers running on that INI file (found by their command line in /proc, or
/// the one given with <c>--pid</c>). Equivalent to <c>kill -HUP $MAINPID</c>. The server's log
/// says whether the reload succeeded and which configuration is active.
/// </summary>
public static class ReloadCommand
{
    /// <param name="verbs">the command-line verbs: a process running one of them is not a server</param>
    public static async Task<int> RunAsync(string ini, int? pid, IReadOnlySet<string> verbs, CancellationToken ct)
    {
        int checkedCode = await CliCommands.CheckAsync(ini, ct);
        if (checkedCode != ExitCodes.Found) return checkedCode;
        var targets = pid is { } p ? [p] : ServersOn(ini, verbs);
        if (targets.Count == 0)
        {
            Console.Error.WriteLine($"reload: no running TcpTableServer found with --config {Path.GetFullPath(ini)} (give --pid)");
            return ExitCodes.Unavailable;
        }
        foreach (int target in targets)
        {
            if (Kill(target, 1) != 0)
            {
                Console.Error.WriteLine($"reload: cannot signal pid {target}: {Marshal.GetLastPInvokeErrorMessage()}");
                return ExitCodes.Unavailable;
            }
            Console.WriteLine($"reload: SIGHUP sent to pid {target}; its log reports the outcome");
        }
        return ExitCodes.Found;
    }

    /// <summary>
    /// Processes whose command line runs TcpTableServer (the .dll or the installed
    /// <c>tcptableserver</c>) with this INI file and no verb: servers, not CLI runs.
    /// </summary>
    private static List<int> ServersOn(string ini, IReadOnlySet<string> verbs)
    {
        string wanted = Path.GetFullPath(ini);
        var found = new List<int>();
        foreach (string dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId) continue;
            string[] args;
            string cwd;
            try
            {
                args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
                cwd = new DirectoryInfo(Path.Combine(dir, "cwd")).LinkTarget ?? "/";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (!args.Any(a => a.Contains("TcpTableServer", StringComparison.OrdinalIgnoreCase))) continue;
            if (args.Any(verbs.Contains)) continue;
            for (int i = 0; i + 1 < args.Length; i++)
                if (args[i] is "--config" or "-c" && Path.GetFullPath(args[i + 1], cwd) == wanted)
                    found.Add(pid);
        }
        return found;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
