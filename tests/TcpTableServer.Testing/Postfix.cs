using System.Diagnostics;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// Real Postfix tools (Debian's postmap) with a private configuration directory, so that
/// tests never depend on /etc/postfix. Keys and values cross as octet strings (Latin-1).
/// </summary>
public sealed class Postfix
{
    public string ConfigDir { get; }

    public Postfix(string workDir, bool smtputf8 = false)
    {
        ConfigDir = Path.Combine(workDir, "postfix-etc");
        Directory.CreateDirectory(ConfigDir);
        File.WriteAllText(Path.Combine(ConfigDir, "main.cf"),
            $"compatibility_level = 3.6\nsmtputf8_enable = {(smtputf8 ? "yes" : "no")}\n");
        File.WriteAllText(Path.Combine(ConfigDir, "master.cf"), "");
    }

    public static bool Installed => File.Exists("/usr/sbin/postmap");

    public readonly record struct Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>`postmap -c DIR ARGS`; stdin optional.</summary>
    public Result Postmap(IEnumerable<string> args, string? stdin = null, int timeoutSeconds = 60)
    {
        var psi = new ProcessStartInfo("/usr/sbin/postmap")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.Latin1,
            StandardErrorEncoding = Encoding.Latin1,
        };
        if (stdin is not null) psi.StandardInputEncoding = Encoding.Latin1;
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(ConfigDir);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var read = p.StandardOutput.ReadToEndAsync();   // read while writing: a long answer fills the pipe
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var output = read.Result;
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill();
            throw new TimeoutException($"postmap {string.Join(' ', args)}");
        }
        return new Result(p.ExitCode, output, err.Result);
    }

    /// <summary>`postmap -q KEY TABLE` (the key passed as text, UTF-8 on the command line).</summary>
    public Result Query(string key, string table) => Postmap(["-q", key, table]);

    /// <summary>`postmap ARGS` that must not fail (exit 0, or 1 for "not found").</summary>
    public Result PostmapChecked(IEnumerable<string> args, string? stdin = null)
    {
        var r = Postmap(args, stdin);
        if (r.ExitCode > 1) throw new InvalidOperationException($"postmap {string.Join(' ', args)} failed ({r.ExitCode}): {r.Stderr}");
        return r;
    }

    /// <summary>`postmap -q KEY TABLE`: the value without its newline, or null when not found.</summary>
    public string? Value(string key, string table)
    {
        var r = PostmapChecked(["-q", key, table]);
        return r.ExitCode == 0 ? r.Stdout.TrimEnd('\n') : null;
    }

    /// <summary>`postmap -s TABLE`: every entry as "key\tvalue", sorted (ordinal).</summary>
    public string[] Dump(string table) =>
        [.. PostmapChecked(["-s", table]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
}
