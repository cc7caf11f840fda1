using System.Diagnostics;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// Runs the real Postfix <c>postmap</c> against a private configuration directory
/// (<c>DIR/etc/main.cf</c>), so tests can check LMDB files byte-compatibly with Postfix.
/// </summary>
public sealed class Postmap
{
    private readonly string _configDirectory;

    public Postmap(string directory)
    {
        _configDirectory = Path.Combine(directory, "etc");
        Directory.CreateDirectory(_configDirectory);
        File.WriteAllText(Path.Combine(_configDirectory, "main.cf"),
            "compatibility_level = 3.6\nsmtputf8_enable = no\n");
    }

    /// <summary>Runs postmap with the arguments; returns exit code and stdout.</summary>
    public Task<(int ExitCode, string Output)> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs postmap with <paramref name="input"/> (octets) on its standard input.</summary>
    public async Task<(int ExitCode, string Output)> RunWithInputAsync(string? input, params string[] args)
    {
        var psi = new ProcessStartInfo("postmap")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.Latin1,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(_configDirectory);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        if (input is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(TcpTableServer.Tables.Octets.ToBytes(input), timeout.Token);
            process.StandardInput.Close();
        }
        await process.WaitForExitAsync(timeout.Token);
        string err = await stderr;
        if (process.ExitCode > 1)
            Assert.Fail($"postmap {string.Join(' ', args)} failed ({process.ExitCode}): {err}");
        return (process.ExitCode, await stdout);
    }

    /// <summary><c>postmap -q key type:name</c>: the value, or null when not found (exit 1).</summary>
    public async Task<string?> QueryAsync(string key, string map)
    {
        var (code, output) = await RunAsync("-q", key, map);
        return code == 0 ? output.TrimEnd('\n') : null;
    }

    /// <summary><c>postmap -s type:name</c>: every entry as "key\tvalue", sorted.</summary>
    public async Task<string[]> DumpAsync(string map)
    {
        var (_, output) = await RunAsync("-s", map);
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal)];
    }
}
