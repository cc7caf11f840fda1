using System.Diagnostics;
using System.Text;

namespace TcpTableServer.Differential;

/// <summary>
/// Many lookups through one `postmap -q - TABLE static:SENTINEL` process per batch, with an
/// empty key after every real key. The empty key is skipped by every table (spec 3.2 step 1)
/// and answered by the static table with a value longer than postmap's 4096-byte output
/// buffer, which forces every preceding answer out. So when a lookup error ends postmap
/// ("fatal: table ...: query error", postmap stops at the first error), the answers printed
/// so far tell exactly which key failed: it is recorded as an error and the batch resumes
/// with the next key. A key no table answers (in UTF-8 mode one that is not UTF-8: even
/// static: skips it) prints no line: only the empty key's sentinel follows, and the key counts as
/// not found. Keys are octet strings (Latin-1 chars = bytes); they must not contain
/// LF (`postmap -q -` is line based) nor be empty.
/// </summary>
public sealed class PostmapBatch(string configDir)
{
    private static readonly string Sentinel = new('~', 4200);
    private static readonly byte[] SentinelBytes = Encoding.Latin1.GetBytes(Sentinel);

    public async Task<Answer[]> LookupAsync(IReadOnlyList<string> keys, string table)
    {
        var answers = new Answer[keys.Count];
        int start = 0;
        while (start < keys.Count)
        {
            var (parsed, stderr, exit) = await RunAsync(keys, start, table);
            for (int i = 0; i < parsed.Count; i++) answers[start + i] = parsed[i];
            int next = start + parsed.Count;
            if (next >= keys.Count) break;
            if (!stderr.Contains("fatal:", StringComparison.Ordinal) && exit == 0) throw new InvalidOperationException($"postmap -q - {table}: output ended after {next} keys");
            if (!stderr.Contains("query error", StringComparison.Ordinal))
                throw new InvalidOperationException($"postmap -q - {table} failed (exit {exit}) after {next} keys: {stderr.Trim()}");
            answers[next] = Answer.Error;   // the key postmap stopped at
            start = next + 1;
        }
        return answers;
    }

    private async Task<(List<Answer>, string, int)> RunAsync(IReadOnlyList<string> keys, int start, string table)
    {
        var psi = new ProcessStartInfo("/usr/sbin/postmap")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-c", configDir, "-q", "-", table, "static:" + Sentinel }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        // Postfix sleeps a second after "fatal:" before it exits (msg_fatal): the answers before
        // the error are already out, so end it at once instead of waiting a second per error
        var stderrTask = Task.Run(async () =>
        {
            var sb = new StringBuilder();
            while (await p.StandardError.ReadLineAsync() is { } line)
            {
                sb.Append(line).Append('\n');
                if (line.Contains("fatal:", StringComparison.Ordinal)) { try { p.Kill(); } catch (InvalidOperationException) { } }
            }
            return sb.ToString();
        });
        var stdoutTask = ReadAllAsync(p.StandardOutput.BaseStream);
        var writer = Task.Run(async () =>
        {
            var input = new StringBuilder();
            for (int i = start; i < keys.Count; i++) input.Append(keys[i]).Append("\n\n");
            try
            {
                await p.StandardInput.BaseStream.WriteAsync(Encoding.Latin1.GetBytes(input.ToString()));
                p.StandardInput.Close();
            }
            catch (IOException) { } // postmap stopped early (fatal): the rest is not read
        });
        var stdout = await stdoutTask;
        var stderr = await stderrTask;
        await writer;
        await p.WaitForExitAsync();
        return (Parse(stdout, keys, start), stderr, p.ExitCode);
    }

    private static async Task<byte[]> ReadAllAsync(Stream s)
    {
        var m = new MemoryStream();
        await s.CopyToAsync(m);
        return m.ToArray();
    }

    /// <summary>Complete (key, sentinel) line pairs; a real line whose sentinel follows is complete.</summary>
    private static List<Answer> Parse(byte[] output, IReadOnlyList<string> keys, int start)
    {
        var answers = new List<Answer>();
        int pos = 0;
        while (start + answers.Count < keys.Count)
        {
            int eol = Array.IndexOf(output, (byte)'\n', pos);
            if (eol < 0) break; // incomplete line: postmap stopped while writing it
            var key = keys[start + answers.Count];
            var line = Encoding.Latin1.GetString(output, pos, eol - pos);
            pos = eol + 1;
            if (line == "\t" + Sentinel)
            {
                // no line for the key, only the empty key's: not even static: answered it, as in
                // UTF-8 mode for a key that is not UTF-8 (every table's UTF-8 layer skips it, spec 3.3)
                answers.Add(Answer.NotFound);
                continue;
            }
            if (!line.StartsWith(key + "\t", StringComparison.Ordinal))
                throw new InvalidOperationException($"postmap output out of step at key \"{Show.Octets(key)}\": \"{Show.Octets(line)}\"");
            var value = line[(key.Length + 1)..];
            answers.Add(value == Sentinel ? Answer.NotFound : Answer.Found(value));
            // skip the sentinel line of the empty key (it may be cut short by a fatal error)
            int sentinelEnd = Array.IndexOf(output, (byte)'\n', pos);
            if (sentinelEnd < 0) break;
            if (sentinelEnd - pos != SentinelBytes.Length + 1)
                throw new InvalidOperationException($"postmap output: expected the sentinel after \"{Show.Octets(key)}\"");
            pos = sentinelEnd + 1;
        }
        return answers;
    }
}
