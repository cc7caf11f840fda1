using System.Text.Json;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// partial_keys = virtual and canonical, differential through Postfix's own cleanup daemon: a
/// temporary full instance queues one message per generated recipient through smtpd, once
/// via a cleanup service with <c>virtual_alias_maps</c> (or <c>canonical_maps</c>) =
/// <c>hash:FILE</c> and once via one with <c>socketmap:inet:127.0.0.1:PORT:MAP</c> pointing
/// at our server (real memcached, texthash: backup of the same data); the envelope recipients
/// cleanup wrote into each queue file (read back with <c>postqueue -j</c>) must be the same.
/// No queue manager runs, so nothing is delivered. Covers extensions (propagated for
/// virtual and canonical, Postfix's default), local domains (mydestination, myorigin), @domain
/// and "@domain" values.
/// </summary>
[TestFixture, Category("Interop"), NonParallelizable, System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CleanupDifferentialTests
{
    private const int Count = 150;

    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private ServerProcess _server = null!;
    private PostfixInstance _postfix = null!;
    private readonly Dictionary<string, int> _ports = [];

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(PostfixInstance.Available, "needs root and Postfix (scripts/install-deps)");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        int serverPort = FreePort.Next();
        string table = _dir.File("virtual", string.Concat(AddressMapPostmapDifferentialTests.Entries.Select(e => $"{e.Key}\t{e.Value}\n")));
        string ini = AddressMapPostmapDifferentialTests.ServerIni(_dir, _mc.Endpoint, table, serverPort);
        _server = ServerProcess.Serve(ini, serverPort);

        string socketmap(string use) => $"socketmap:inet:127.0.0.1:{serverPort}:{use}";
        var master = new System.Text.StringBuilder("showq unix n - n - - showq\n");
        foreach (var (name, parameter, maps) in new[]
        {
            ("v_hash", "virtual_alias_maps", "hash:" + table), ("v_sm", "virtual_alias_maps", socketmap("virtual")),
            ("c_hash", "canonical_maps", "hash:" + table), ("c_sm", "canonical_maps", socketmap("canonical")),
        })
        {
            int port = FreePort.Next();
            _ports[name] = port;
            master.Append($"cl_{name} unix n - n - 0 cleanup -o {parameter}={maps}\n");
            master.Append($"127.0.0.1:{port} inet n - n - - smtpd -o cleanup_service_name=cl_{name}\n");
        }
        _postfix = new PostfixInstance(_dir,
            "recipient_delimiter = +\nmyorigin = origin.test\nmydestination = ex0.test, ex1.test\n"
            + "mynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks, reject\nsmtpd_recipient_restrictions = permit\nsmtpd_reject_unlisted_recipient = no\n",
            master.ToString());
        _postfix.Postmap(table);
        foreach (int port in _ports.Values) _postfix.WaitFor(port);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _postfix?.Dispose();
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    /// <summary>
    /// Queues one message per recipient through the smtpd on <paramref name="port"/>; their
    /// queue ids in order. Sessions run side by side: this instance's smtpd takes about a second
    /// to open each queue file (no queue manager runs), so one session would take minutes.
    /// </summary>
    private static List<string> Queue(int port, IReadOnlyList<string> recipients)
    {
        const int Sessions = 16;
        var ids = new string[recipients.Count];
        Parallel.For(0, Sessions, new ParallelOptions { MaxDegreeOfParallelism = Sessions }, s =>
        {
            var mine = Enumerable.Range(0, recipients.Count).Where(i => i % Sessions == s).ToList();
            var queued = QueueOne(port, mine.Select(i => recipients[i]));
            for (int k = 0; k < mine.Count; k++) ids[mine[k]] = queued[k];
        });
        return [.. ids];
    }

    private static List<string> QueueOne(int port, IEnumerable<string> recipients)
    {
        using var smtp = new SmtpSession(port);
        smtp.Send("EHLO client.test");
        var ids = new List<string>();
        foreach (string rcpt in recipients)
        {
            smtp.Send("MAIL FROM:<sender@nowhere.test>");
            string r = smtp.Send($"RCPT TO:<{rcpt}>");
            if (!r.StartsWith("250", StringComparison.Ordinal)) throw new InvalidOperationException($"RCPT {rcpt}: {r}");
            smtp.Send("DATA");
            string queued = smtp.Send("Subject: t\r\n\r\nt\r\n.");
            ids.Add(queued[(queued.LastIndexOf(' ') + 1)..]);
        }
        smtp.Send("QUIT");
        return ids;
    }

    /// <summary>Every queued message's envelope recipients, by queue id (postqueue -j).</summary>
    private Dictionary<string, string> Recipients()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/sbin/postqueue", ["-c", _postfix.Etc, "-j"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = System.Diagnostics.Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit(60000);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var recipients = doc.RootElement.GetProperty("recipients").EnumerateArray()
                .Select(r => r.GetProperty("address").GetString()!).Order(StringComparer.Ordinal);
            result[doc.RootElement.GetProperty("queue_id").GetString()!] = string.Join(", ", recipients);
        }
        return result;
    }

    [TestCase("v", TestName = "Virtual_cleanup_recipients_from_socketmap_partial_keys_equal_hash_table")]
    [TestCase("c", TestName = "Canonical_cleanup_recipients_from_socketmap_partial_keys_equal_hash_table")]
    public void Same_envelope_recipients_as_a_hash_table(string use)
    {
        var addresses = AddressData.Generate(Count, seed: use[0])
            .Concat(["u3+x@EX0.test", "u0+y@origin.test", "u5+q@ex5.test", "u4+X@ex4.test", "u9+z@ex6.test"]).Distinct().ToList();
        var hashIds = Queue(_ports[use + "_hash"], addresses);
        var servedIds = Queue(_ports[use + "_sm"], addresses);
        var queued = Recipients();
        var differences = new List<string>();
        int changed = 0;
        for (int i = 0; i < addresses.Count; i++)
        {
            string expected = queued.GetValueOrDefault(hashIds[i], "(not queued)"), actual = queued.GetValueOrDefault(servedIds[i], "(not queued)");
            if (!expected.Equals(addresses[i], StringComparison.OrdinalIgnoreCase)) changed++;
            if (expected != actual) differences.Add($"{addresses[i]}: hash: {expected}; socketmap: {actual}");
        }
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(20)));
        Assert.That(changed, Is.GreaterThan(addresses.Count / 6), "too few recipients rewritten");
    }
}
