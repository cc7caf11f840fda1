using System.Diagnostics;
using System.Text;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Real Sendmail (Debian's sendmail-bin, unpacked by scripts/install-deps, never installed:
/// it conflicts with postfix) in address test mode, <c>sendmail -C CF -bt</c>: each
/// <see cref="Map"/> feeds one <c>/map NAME KEY</c> line to the same process, so its socket
/// map client keeps one connection across calls, as a running Sendmail does.
/// </summary>
public sealed class SendmailAddressTest : IDisposable
{
    /// <summary>Where scripts/install-deps unpacks sendmail-bin.</summary>
    public const string UnpackedBinary = "/var/cache/tcptableserver-tests/sendmail/usr/libexec/sendmail/sendmail";

    /// <summary>The unpacked binary, or $TCPTABLESERVER_SENDMAIL (another Sendmail build).</summary>
    public static string Binary =>
        Environment.GetEnvironmentVariable("TCPTABLESERVER_SENDMAIL") is { Length: > 0 } b ? b : UnpackedBinary;

    private readonly Process _process;
    private readonly StringBuilder _transcript = new();
    private readonly Queue<string> _answers = new();

    /// <summary>Everything Sendmail printed so far (standard output and error), for messages.</summary>
    public string Transcript { get { lock (_transcript) return _transcript.ToString(); } }

    /// <summary>
    /// Starts Sendmail on <paramref name="cf"/>. Sendmail qualifies the host name before it
    /// reads its configuration and sleeps 60 s when it cannot ("My unqualified host name (vm)
    /// unknown; sleeping for retry"), so it runs in a private UTS namespace (root) whose host
    /// name has a domain; nothing else of the machine is touched.
    /// </summary>
    public SendmailAddressTest(string cf)
    {
        var psi = new ProcessStartInfo("unshare")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--uts", "sh", "-c", "echo sendmail-interop.localdomain > /proc/sys/kernel/hostname && exec \"$0\" \"$@\"",
                                  Binary, "-C", cf, "-bt" })
            psi.ArgumentList.Add(a);
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => Received(e.Data);
        _process.ErrorDataReceived += (_, e) => Received(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Received(string? line)
    {
        if (line is null) return;
        lock (_transcript)
        {
            _transcript.AppendLine(line);
            // "> map_lookup: aliases (key) returns value (0)", "> Map named "x" not found"
            string text = line.TrimStart('>', ' ');
            if (text.StartsWith("map_lookup:", StringComparison.Ordinal) || text.StartsWith("Map named", StringComparison.Ordinal))
            {
                _answers.Enqueue(text);
                Monitor.PulseAll(_transcript);
            }
        }
    }

    /// <summary>Feeds <c>/map <paramref name="map"/> <paramref name="key"/></c> and returns Sendmail's answer line.</summary>
    public string Map(string map, string key)
    {
        _process.StandardInput.Write($"/map {map} {key}\n");
        _process.StandardInput.Flush();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        lock (_transcript)
        {
            while (_answers.Count == 0)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || _process.HasExited)
                    throw new TimeoutException($"no answer from Sendmail to /map {map} {key}:\n{_transcript}");
                Monitor.Wait(_transcript, TimeSpan.FromMilliseconds(Math.Min(200, left.TotalMilliseconds)));
            }
            return _answers.Dequeue();
        }
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();    // end of input: Sendmail leaves test mode
            if (!_process.WaitForExit(5000)) _process.Kill(true);
        }
        catch (InvalidOperationException) { }
        catch (IOException) { }
        _process.Dispose();
    }
}
