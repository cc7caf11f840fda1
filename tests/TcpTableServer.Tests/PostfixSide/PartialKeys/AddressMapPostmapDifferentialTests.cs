using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// partial_keys = virtual and canonical, differential through real postmap: for generated
/// addresses, the answer of <c>postmap -q - socketmap:inet:127.0.0.1:PORT:MAP</c> (our server,
/// real memcached, texthash: backup) equals what Postfix's cleanup ends up with from a
/// <c>hash:</c> table with the same data, taken as the reference: <c>postmap -q - hash:FILE</c>
/// for every probe in mail_addr_find_opt's order (written out here from Postfix's
/// global/mail_addr_find.c, apart from the server's code), the first hit, rewritten as
/// mail_addr_map does (a "@domain" value after a match without the extension gets the
/// localpart; the unmatched extension is propagated for virtual, not for canonical with
/// propagate_unmatched_extensions = virtual). Through cleanup itself: CleanupDifferentialTests.
/// </summary>
[TestFixture, Category("Interop"), NonParallelizable]
public sealed class AddressMapPostmapDifferentialTests
{
    private const int Count = 800;
    private static readonly string[] LocalDomains = ["ex0.test", "ex1.test", "origin.test"];

    internal static readonly (string Key, string Value)[] Entries =
    [
        ("u1+x@ex0.test", "v1@dest.test"), ("u2@ex0.test", "v2@dest.test, w2@other.test"), ("@ex1.test", "catch1@dest.test"),
        ("u3", "local3"), ("u4+x", "v4@dest.test"), ("u5@ex5.test", "@other5.test"), ("@ex6.test", "@other6.test"),
        ("u6@ex3.test", "v6@dest.test"), ("u1@a.ex1.test", "v7@dest.test"), ("u0", "@other8.test"), ("u2@origin.test", "v9@dest.test"),
        ("@ex2.test", "catch2@dest.test"), ("u4@ex4.test", "Name <v10@dest.test>"), ("postmaster@ex5.test", "admin@dest.test"),
    ];

    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private ServerProcess _server = null!;
    private Postfix _postfix = null!;
    private string _hash = null!;
    private int _port;

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        _postfix = new Postfix(_dir.Path);
        _port = FreePort.Next();
        string table = _dir.File("virtual", string.Concat(Entries.Select(e => $"{e.Key}\t{e.Value}\n")));
        _postfix.PostmapChecked(["hash:" + table]);
        _hash = "hash:" + table;
        string ini = ServerIni(_dir, _mc.Endpoint, table, _port, "propagate_unmatched_extensions = virtual\n");
        _server = ServerProcess.Serve(ini, _port);
    }

    /// <summary>
    /// Writes the server's configuration for both address-map differentials: maps "virtual" and
    /// "canonical" (partial_keys of that use, real memcached, texthash: backup of
    /// <paramref name="table"/>, the local domains of the entries), socketmap on <paramref name="port"/>.
    /// </summary>
    internal static string ServerIni(TempDir dir, string memcached, string table, int port, string extra = "")
    {
        foreach (string use in new[] { "virtual", "canonical" })
            dir.File(use + ".cf", $"memcache = {memcached}\nkey_format = {use}:%s\nbackup = texthash:{table}\n");
        string Map(string use) => $"""
            [maps:{use}]
            config = {use}.cf
            partial_keys = {use}
            recipient_delimiter = +
            myorigin = origin.test
            mydestination = ex0.test, ex1.test
            {extra}
            """;
        return dir.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{port}\nsmtputf8_enable = no\n\n" + Map("virtual") + Map("canonical"));
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    /// <summary>`postmap -q - TABLE`: the found keys and values.</summary>
    private Dictionary<string, string> Batch(IEnumerable<string> keys, string table)
    {
        var r = _postfix.PostmapChecked(["-q", "-", table], string.Concat(keys.Distinct().Select(k => k + "\n")));
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    /// <summary>mail_addr_find_opt with MA_FIND_DEFAULT, recipient_delimiter = +: (probe, unmatched extension).</summary>
    private static IEnumerable<(string Key, string? Extension)> ReferenceProbes(string address)
    {
        int at = address.LastIndexOf('@');
        string local = address[..at], domain = address[(at + 1)..];
        int plus = local.IndexOf('+');
        bool split = plus > 0 && !local.Equals("postmaster", StringComparison.OrdinalIgnoreCase);
        string? ext = split ? local[plus..] : null;
        string bare = split ? local[..plus] : local;
        yield return (address, null);
        if (split) yield return (bare + "@" + domain, ext);
        if (LocalDomains.Contains(domain, StringComparer.OrdinalIgnoreCase))
        {
            yield return (local, null);
            if (split) yield return (bare, ext);
        }
        yield return ("@" + domain, null);
    }

    /// <summary>What mail_addr_map gives Postfix's cleanup for a hit (simple address lists only).</summary>
    private static string Rewrite(string address, string value, string? ext, bool propagate)
    {
        if (ext is null) return value;
        if (value.StartsWith('@')) value = address[..address.LastIndexOf('@')][..^ext.Length] + value;
        if (!propagate) return value;
        return string.Join(", ", value.Split(',').Select(a =>
        {
            string s = a.Trim();
            if (s.Contains('<')) s = s[(s.IndexOf('<') + 1)..s.IndexOf('>')];
            int at = s.LastIndexOf('@');
            return at < 0 ? s + ext : s[..at] + ext + s[at..];
        }));
    }

    [TestCase("virtual", true, TestName = "Virtual_socketmap_partial_keys_answers_equal_postmap_hash_probes_with_extension_propagation")]
    [TestCase("canonical", false, TestName = "Canonical_socketmap_partial_keys_answers_equal_postmap_hash_probes_without_propagation")]
    public void Same_answers_as_a_hash_table(string use, bool propagate)
    {
        var addresses = AddressData.Generate(Count, seed: use.Length)
            .Concat(["u3+x@EX0.test", "u0+y@origin.test", "u5+q@ex5.test", "u4+X@ex4.test"]).Distinct().ToList();
        var probes = addresses.ToDictionary(a => a, a => ReferenceProbes(a).ToList());
        var hash = Batch(probes.Values.SelectMany(p => p.Select(x => x.Key)), _hash);
        var served = Batch(addresses, $"socketmap:inet:127.0.0.1:{_port}:{use}");
        var differences = new List<string>();
        int hits = 0, rewritten = 0;
        foreach (string address in addresses)
        {
            string? expected = null;
            foreach (var (key, ext) in probes[address])
                if (hash.TryGetValue(key, out string? value))
                {
                    expected = Rewrite(address, value, ext, propagate);
                    if (expected != value) rewritten++;
                    break;
                }
            if (expected is not null) hits++;
            string? actual = served.GetValueOrDefault(address);
            if (expected != actual) differences.Add($"{address}: hash probes give {expected ?? "(not found)"}, server {actual ?? "(not found)"}");
        }
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(20)));
        Assert.That(hits, Is.GreaterThan(addresses.Count / 6), "too few addresses hit an entry");
        if (propagate) Assert.That(rewritten, Is.GreaterThan(10), "too few answers with a propagated extension");
    }
}
