using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Issue 3 differential test: the same keys through Postfix's own memcache: client
/// (`postmap -q - memcache:/abs/x.cf`) and through our server over socketmap: and tcp:
/// (`postmap -q -` again, as the client), each of the three runs with its own fresh
/// memcached and its own copy of the same backup (a shared cache would let one run's
/// write-backs answer the next run's misses). Answers and the cache contents written back
/// must be equal.
/// </summary>
[TestFixture, Category("Interop"), Category("Differential")]
[NonParallelizable]
public sealed class DifferentialTests
{
    private const int Keys = 1500;

    /// <summary>memcache_table(5) bodies shared by both sides (memcache/backup lines are added per side).</summary>
    private static readonly (string Name, string Body, bool Backup)[] Configs =
    [
        ("aliases", "key_format = aliases:%s\nttl = 600\nflags = 3\n", true),
        ("plain", "", false),
        ("dom", "domain = !bad.example.com, example.com example.NET\nkey_format = d:%u:%d\n", true),
        ("parts", "key_format = p:%2.%1:%u\n", true),
        ("user", "key_format = u:%U\nflags = 9\n", true),
        ("pct", "key_format = %s%%\n", false),
    ];

    private static string Backup(List<string> corpus)
    {
        // every third key of the corpus (lower-cased as postmap would store it) is in the backup
        var sb = new StringBuilder("# differential backup\n");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < corpus.Count; i += 3)
        {
            var k = corpus[i];
            if (k.Contains(' ')) continue; // a texthash key ends at whitespace
            if (!seen.Add(AsciiLower(k))) continue; // Postfix warns about duplicates and keeps the first
            sb.Append(k).Append("   value-").Append(i).Append(i % 2 == 0 ? " with spaces" : "\u00c3\u00a9").Append('\n');
        }
        return sb.ToString();
    }

    [Test]
    public void Issue3_Differential_PostfixMemcacheVersusOurServer_SameAnswersAndCache()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        var corpus = new KeyCorpus(20261125).Take(Keys);
        using var dir = new TempDir();
        var postfix = new Postfix(dir.Path);
        using var mcPostfix = MemcachedProcess.Start();
        using var mcSocketmap = MemcachedProcess.Start();
        using var mcTcp = MemcachedProcess.Start();
        var sides = new[] { ("pf", mcPostfix), ("sm", mcSocketmap), ("tcp", mcTcp) };
        var backup = Backup(corpus);
        foreach (var (side, _) in sides)
        {
            Directory.CreateDirectory(dir[side]);
            File.WriteAllText(Path.Combine(dir[side], "backup"), backup, Encoding.Latin1);
        }

        // a few keys are cached before the run, identically on both sides (cache hits that differ from the backup)
        for (int i = 0; i < corpus.Count; i++)
        {
            var lower = AsciiLower(corpus[i]);
            if (lower.Contains(' ')) continue; // memcached refuses such keys
            string? cacheKey = (i % 7, i % 11, i % 13) switch
            {
                (0, _, _) => "aliases:" + lower, // the "aliases" map's key_format
                (_, 0, _) => lower,              // "plain" (key_format %s)
                (_, _, 0) => lower + "%",        // "pct" (key_format %s%%)
                _ => null,
            };
            if (cacheKey is null) continue;
            foreach (var (_, mc) in sides) mc.Set(cacheKey, "cached-" + i, 5);
        }

        int socketmapPort = FreePort.Next();
        var ini = new StringBuilder($"[server]\nsocketmap = inet:127.0.0.1:{socketmapPort}\n");
        var tcpPorts = new Dictionary<string, int>();
        foreach (var (name, body, withBackup) in Configs)
        {
            foreach (var (side, mc) in sides)
            {
                var bk = withBackup ? $"backup = texthash:{Path.Combine(dir[side], "backup")}\n" : "";
                File.WriteAllText(Path.Combine(dir[side], name + ".cf"), $"memcache = {mc.Endpoint}\n{body}{bk}");
            }
            tcpPorts[name] = FreePort.Next();
            ini.Append($"\n[maps:{name}]\nconfig = sm/{name}.cf\n");
            ini.Append($"\n[maps:{name}_tcp]\nconfig = tcp/{name}.cf\ntcp = inet:127.0.0.1:{tcpPorts[name]}\n");
        }
        var iniPath = dir.File("server.ini", ini.ToString());
        using var server = ServerProcess.Serve(iniPath, [socketmapPort, .. tcpPorts.Values]);

        var differences = new List<string>();
        foreach (var (name, _, _) in Configs)
        {
            var expected = postfix.QueryMany(corpus, $"memcache:{Path.Combine(dir["pf"], name + ".cf")}");
            var viaSocketmap = postfix.QueryMany(corpus, $"socketmap:inet:127.0.0.1:{socketmapPort}:{name}");
            var viaTcp = postfix.QueryMany(corpus, $"tcp:127.0.0.1:{tcpPorts[name]}"); // map {name}_tcp
            Assert.That(expected, Is.Not.Empty, $"{name}: the corpus must produce hits");
            foreach (var key in corpus)
            {
                expected.TryGetValue(key, out var e);
                viaSocketmap.TryGetValue(key, out var s);
                viaTcp.TryGetValue(key, out var t);
                if (e != s) differences.Add($"{name} socketmap \"{key}\": postfix={e ?? "(not found)"} ours={s ?? "(not found)"}");
                if (e != t) differences.Add($"{name} tcp \"{key}\": postfix={e ?? "(not found)"} ours={t ?? "(not found)"}");
            }
        }

        // cache contents: every key any side lists, plus every aliases:%s candidate, read back from all
        var candidates = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, mc) in sides) candidates.UnionWith(mc.Keys());
        foreach (var k in corpus) if (!k.Contains(' ')) candidates.Add("aliases:" + AsciiLower(k));
        int cached = 0;
        foreach (var k in candidates)
        {
            var a = mcPostfix.Get(k);
            if (a is not null) cached++;
            foreach (var (side, mc) in sides[1..])
            {
                var b = mc.Get(k);
                if (a != b) differences.Add($"cache via {side} \"{k}\": postfix={a?.ToString() ?? "(none)"} ours={b?.ToString() ?? "(none)"}");
            }
        }

        TestContext.Out.WriteLine($"{corpus.Count} keys x {Configs.Length} configurations x 2 protocols; {cached} cache entries compared; {differences.Count} differences");
        Assert.That(cached, Is.GreaterThan(Keys / 10), "write-back must have filled the cache");
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(40)));
    }

    private static string AsciiLower(string s) =>
        string.Concat(s.Select(c => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c));
}
