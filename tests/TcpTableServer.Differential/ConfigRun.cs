using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>One configuration of a differential run (see <see cref="Harness"/>).</summary>
internal sealed class ConfigRun(CfTemplate cf, List<string> corpus, string dir, Postfix postfix, DiffOptions options, DiffReport report, bool smtputf8)
{
    private const string SeedPrefix = "cached-";
    private readonly PostmapBatch _batch = new(postfix.ConfigDir);
    private Func<string, string> _ourKey = k => k;
    private readonly HashSet<string> _seededKeys = new(StringComparer.Ordinal);

    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly List<string> _phases = [];

    /// <summary>Seconds per phase, for the progress line.</summary>
    public string Timing => string.Join(", ", _phases);

    private void Phase(string name)
    {
        _phases.Add($"{name} {_clock.Elapsed.TotalSeconds:F1}s");
        _clock.Restart();
    }

    public async Task RunAsync()
    {
        using var mcPf = MemcachedProcess.Start();
        using var mcSm = MemcachedProcess.Start();
        using var mcTcp = MemcachedProcess.Start();
        if (cf.KeyDigest is { } d && TcpTableServer.Memcache.KeyDigest.Create(d) is { } digest) _ourKey = digest.Apply;
        var pf = cf.WriteSide(Path.Combine(dir, "pf"), mcPf.Endpoint, postfix);
        var sm = cf.WriteSide(Path.Combine(dir, "sm"), mcSm.Endpoint, postfix);
        var tcp = cf.WriteSide(Path.Combine(dir, "tcp"), mcTcp.Endpoint, postfix);

        int seeded = await SeedAsync(mcPf, [mcSm, mcTcp]);
        Phase("seed");

        int smPort = FreePort.Next(), putPort = FreePort.Next(), tcpPort = FreePort.Next();
        string smMap = cf.Name, tcpMap = cf.Name + "_tcp";
        var ini = Path.Combine(dir, "server.ini");
        File.WriteAllText(ini,
            // smtputf8_enable = yes is the server's default (as Postfix's): written only for "no", so a
            // server from before the option (--server-dll) runs the "yes" mode with its own folding
            $"[server]\nsocketmap = inet:127.0.0.1:{smPort}\n{(smtputf8 ? "" : "smtputf8_enable = no\n")}\n" +
            $"[maps:{smMap}]\nconfig = {sm.Cf}\ntcp = inet:127.0.0.1:{putPort}\nallow_put = yes\n\n" +
            $"[maps:{tcpMap}]\nconfig = {tcp.Cf}\ntcp = inet:127.0.0.1:{tcpPort}\nallow_put = yes\n");

        var updates = cf.Writable ? PickUpdates() : [];
        var deletes = cf.Writable ? PickDeletes() : [];
        if (!cf.Writable) report.Notes.Add($"{cf.Name}: updates and deletes not run: the backup {cf.Backup} is read-only (spec 3.11)");

        using (var server = ServerProcess.Serve(ini, smPort, putPort, tcpPort))
        {
            Phase("server");
            var expected = await _batch.LookupAsync(corpus, "memcache:" + pf.Cf);
            Phase("postfix");
            var viaSm = await _batch.LookupAsync(corpus, $"socketmap:inet:127.0.0.1:{smPort}:{smMap}");
            Phase("socketmap");
            var viaTcp = await _batch.LookupAsync(corpus, $"tcp:127.0.0.1:{tcpPort}");
            Phase("tcp");
            Count(expected);
            CompareAnswers("socketmap", expected, viaSm);
            CompareAnswers("tcp", expected, viaTcp);
            report.WriteBacks += Math.Max(0, Items(mcPf).Count - seeded);

            if (updates.Count > 0)
            {
                var pfStatus = await PostfixDict(pf.Cf, updates.Select(u => $"u\t{u.Key}\t{u.Value}"));
                var smStatus = updates.Select(u => TcpPut.Put(putPort, u.Key, u.Value)).ToList();
                var tcpStatus = updates.Select(u => TcpPut.Put(tcpPort, u.Key, u.Value)).ToList();
                CompareStatuses("update", "tcp put, socketmap side", updates.Select(u => u.Key).ToList(), pfStatus, smStatus);
                CompareStatuses("update", "tcp put, tcp side", updates.Select(u => u.Key).ToList(), pfStatus, tcpStatus);
                report.Updates += updates.Count;
                Phase("updates");
            }
        } // the server stops before our CLI deletes open the same backups

        if (deletes.Count > 0)
        {
            var pfStatus = await PostfixDict(pf.Cf, deletes.Select(k => $"d\t{k}"));
            // one CLI process per key and side; the two sides' processes run side by side
            var sides = await Task.WhenAll(
                Task.Run(() => deletes.Select(k => CliDelete(ini, smMap, k)).ToList()),
                Task.Run(() => deletes.Select(k => CliDelete(ini, tcpMap, k)).ToList()));
            var (smStatus, tcpStatus) = (sides[0], sides[1]);
            CompareStatuses("delete", "CLI, socketmap side", deletes, pfStatus, smStatus);
            CompareStatuses("delete", "CLI, tcp side", deletes, pfStatus, tcpStatus);
            report.Deletes += deletes.Count;
            Phase("deletes");
        }

        CompareCaches(mcPf, [mcSm, mcTcp], ["socketmap side", "tcp side"]);
        if (cf.HasLmdbBackup)
        {
            var a = postfix.Dump("lmdb:" + pf.BackupFile);
            CompareBackup("socketmap side", a, postfix.Dump("lmdb:" + sm.BackupFile));
            CompareBackup("tcp side", a, postfix.Dump("lmdb:" + tcp.BackupFile));
        }
        Phase("compare");
    }

    /// <summary>
    /// Seeds the Postfix side's memcached through Postfix's own update (so Postfix derives the
    /// memcached keys) with the configuration minus its backup, then copies every item to our
    /// sides (under the digest of its key when key_digest is set: 3.7 ignores it).
    /// </summary>
    private async Task<int> SeedAsync(MemcachedProcess pf, MemcachedProcess[] ours)
    {
        var seedCf = cf.WriteSide(Path.Combine(dir, "seed"), pf.Endpoint, postfix, withBackup: false).Cf;
        var ops = new List<string>();
        for (int i = 0; i < corpus.Count; i += 29)
        {
            if (corpus[i].Contains('\t')) continue;
            ops.Add($"u\t{corpus[i]}\t{SeedPrefix}{i}{(i % 5 == 0 ? " " + new string('v', 80) : "")}");
        }
        await PostfixDict(seedCf, ops);
        var items = Items(pf);
        _seededKeys.UnionWith(items.Keys);
        foreach (var (key, item) in items)
            foreach (var mc in ours) mc.Set(_ourKey(key), item.Value, item.Flags);
        return items.Count;
    }

    private static Dictionary<string, (string Value, int Flags)> Items(MemcachedProcess mc)
    {
        var keys = ListKeys(mc);
        var items = new Dictionary<string, (string, int)>(StringComparer.Ordinal);
        using var reader = new CacheReader(mc);
        foreach (var k in keys)
            if (reader.Get(k) is { } v) items[k] = v;
        return items;
    }

    private void Count(Answer[] answers)
    {
        foreach (var a in answers)
        {
            if (a.Kind == AnswerKind.NotFound) report.Misses++;
            else if (a.Kind == AnswerKind.Error) report.Errors++;
            else if (a.Value!.StartsWith(SeedPrefix, StringComparison.Ordinal)) report.CacheHits++;
            else if (a.Value.StartsWith("bk-", StringComparison.Ordinal)) report.BackupHits++;
            else report.OtherHits++;
        }
    }

    private void CompareAnswers(string protocol, Answer[] expected, Answer[] ours)
    {
        for (int i = 0; i < corpus.Count; i++)
        {
            report.AnswersCompared++;
            if (expected[i] == ours[i]) continue;
            var text = $"{cf.Name} {protocol} \"{Show.Octets(corpus[i])}\": postfix memcache: {expected[i]}, ours: {ours[i]}";
            if (ExpectedDifferences.Explain(cf, corpus[i]) is { } clause) report.Expect(clause, text);
            else report.Difference(text);
        }
    }

    private void CompareStatuses(string op, string how, List<string> keys, List<int> pf, List<int> ours)
    {
        for (int i = 0; i < keys.Count; i++)
        {
            int p = i < pf.Count ? pf[i] : -2;
            if (p == ours[i]) continue;
            var text = $"{cf.Name} {op} ({how}) \"{Show.Octets(keys[i])}\": postfix {Status(p)}, ours {Status(ours[i])}";
            if (ExpectedDifferences.Explain(cf, keys[i]) is { } clause) report.Expect(clause, text);
            else report.Difference(text);
        }
    }

    private static string Status(int s) => s switch { 0 => "SUCCESS", 1 => "FAIL", -1 => "ERROR", _ => "(postfix driver stopped)" };

    /// <summary>
    /// Final cache items of the three sides. memcached's metadump may skip items, so every
    /// key any side lists (plus every seeded key) is read back from every side with get.
    /// </summary>
    private void CompareCaches(MemcachedProcess pfMc, MemcachedProcess[] ourMcs, string[] sides)
    {
        var listed = new HashSet<string>(_seededKeys, StringComparer.Ordinal);
        foreach (var mc in ourMcs.Prepend(pfMc)) listed.UnionWith(ListKeys(mc));
        if (cf.KeyDigest is not null) listed.UnionWith(PostfixKeys()); // our items are listed under digests only
        using var pfReader = new CacheReader(pfMc);
        for (int s = 0; s < ourMcs.Length; s++)
        {
            using var ourReader = new CacheReader(ourMcs[s]);
            var matched = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in listed)
            {
                var item = pfReader.Get(key);
                if (item is null && _ourKey(key) != key) continue; // an item of ours listed under its digest
                var ourKey = _ourKey(key);
                matched.Add(ourKey);
                var o = ourReader.Get(ourKey);
                if (item is null && o is null) continue;
                report.CacheItemsCompared++;
                if (o != item) CacheDifference(sides[s], key, item, o);
            }
            foreach (var key in listed)
            {
                if (matched.Contains(key) || ourReader.Get(key) is not { } o) continue;
                report.CacheItemsCompared++;
                CacheDifference(sides[s], key, null, o);
            }
        }
    }

    /// <summary>
    /// The undigested memcached keys Postfix 3.7 uses for the corpus (key_format of the folded key,
    /// spec 4.2; in UTF-8 mode Unicode-folded, and none for a key that is not UTF-8, spec 3.3).
    /// </summary>
    private IEnumerable<string> PostfixKeys()
    {
        var format = TcpTableServer.Keys.KeyFormat.Parse(cf.Value("key_format") ?? "%s", out _);
        if (format is null) yield break;
        foreach (var key in corpus)
            if (Folded(key) is { } folded && format.Expand(folded) is { Length: > 0 and <= 250 } m
                && !m.Any(c => c is '\0' or ' ' or '\t' or '\n' or '\v' or '\f' or '\r'))
                yield return m; // keys memcached could hold
    }

    private string? Folded(string key) => !smtputf8 ? TcpTableServer.Tables.Octets.FoldAscii(key)
        : TcpTableServer.Tables.CaseFolding.IsValidUtf8(key) ? TcpTableServer.Tables.CaseFolding.Fold(key) : null;

    private static HashSet<string> ListKeys(MemcachedProcess mc)
    {
        var keys = mc.Keys();
        for (int i = 0; i < 2; i++) keys.UnionWith(mc.Keys()); // metadump may skip an item: list three times
        return keys;
    }

    private void CacheDifference(string side, string key, (string Value, int Flags)? pf, (string Value, int Flags)? ours)
    {
        static string S((string Value, int Flags)? i) => i is { } v ? $"\"{Show.Octets(v.Value, 60)}\" flags {v.Flags}" : "(none)";
        var text = $"{cf.Name} cache ({side}) key \"{Show.Octets(key)}\": postfix {S(pf)}, ours {S(ours)}";
        if (ExpectedDifferences.Explain(cf, key) is { } clause) report.Expect(clause, text);
        else if (cf.KeyDigest is not null && pf is null) report.Expect(ExpectedDifferences.DigestCacheKeys, text);
        else report.Difference(text);
    }

    private void CompareBackup(string side, string[] pf, string[] ours)
    {
        report.BackupEntriesCompared += pf.Length;
        foreach (var e in pf.Except(ours, StringComparer.Ordinal)) BackupDifference(e, $"{cf.Name} backup ({side}): only postfix has \"{Show.Octets(e)}\"");
        foreach (var e in ours.Except(pf, StringComparer.Ordinal)) BackupDifference(e, $"{cf.Name} backup ({side}): only ours has \"{Show.Octets(e)}\"");
    }

    /// <summary>A backup entry (<c>key TAB value</c>) differs: expected when its key's update was (e.g. a key Postfix 3.7 does not skip).</summary>
    private void BackupDifference(string entry, string text)
    {
        if (ExpectedDifferences.Explain(cf, entry[..Math.Max(0, entry.IndexOf('\t'))]) is { } clause) report.Expect(clause, text);
        else report.Difference(text);
    }

    /// <summary>Updates: corpus keys (hits, misses, out of the domain list) and new keys; values with spaces and UTF-8.</summary>
    private List<(string Key, string Value)> PickUpdates()
    {
        var rng = new Random(options.Seed + 1);
        var list = new List<(string, string)>();
        for (int i = 0; i < options.Updates; i++)
        {
            string key = i % 3 == 0 ? $"new-{i}@example.com" : corpus[rng.Next(corpus.Count)];
            if (key.Contains('\t') || key.Length > 200) continue;
            list.Add((key, $"bk-upd {i} caf\u00c3\u00a9"));
        }
        return list;
    }

    /// <summary>Deletes: keys that our CLI can take as UTF-8 arguments (no control bytes).</summary>
    private List<string> PickDeletes()
    {
        var rng = new Random(options.Seed + 2);
        var list = new List<string>();
        for (int tries = 0; list.Count < options.Deletes && tries < 1000; tries++)
        {
            var key = corpus[rng.Next(corpus.Count)];
            if (key.Any(c => c < ' ' || c == '\x7f') || !TcpTableServer.Tables.CaseFolding.IsValidUtf8(key) || list.Contains(key)) continue;
            list.Add(key);
        }
        return list;
    }

    private static int CliDelete(string ini, string map, string key)
    {
        var utf8 = Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(key));
        using var p = ServerProcess.Start("--config", ini, "delete", map, utf8);
        return p.WaitForExit(60) switch { 0 => 0, 1 => 1, _ => -1 };
    }

    /// <summary>Runs <see cref="PostfixDictDriver"/> in a child process; one status per op until a fatal error.</summary>
    private async Task<List<int>> PostfixDict(string cfPath, IEnumerable<string> ops)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            StandardOutputEncoding = Encoding.Latin1,
        };
        foreach (var a in new[] { typeof(PostfixDictDriver).Assembly.Location, "--postfix-dict", postfix.ConfigDir, "memcache:" + cfPath })
            psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        try
        {
            await p.StandardInput.BaseStream.WriteAsync(Encoding.Latin1.GetBytes(string.Concat(ops.Select(o => o + "\n"))));
            p.StandardInput.Close();
        }
        catch (IOException) { }
        var lines = (await stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) report.Notes.Add($"{cf.Name}: postfix driver exit {p.ExitCode}: {(await stderr).Trim()}");
        return [.. lines.Select(int.Parse)];
    }
}
