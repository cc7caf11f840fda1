using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// partial_keys = transport, differential through Postfix's own trivial-rewrite: its resolve
/// service (transport, nexthop, recipient, flags) with <c>transport_maps = hash:FILE</c> and
/// with <c>transport_maps = socketmap:inet:127.0.0.1:PORT:MAP</c> pointing at our server (real
/// memcached, the same data as texthash: backup), for generated addresses with extensions,
/// subdomains and parent domains, with the .parent style (Postfix's default) and with
/// transport_maps in parent_domain_matches_subdomains plus a "*" wildcard entry.
/// </summary>
[TestFixture, Category("Interop"), NonParallelizable, System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TransportResolveDifferentialTests
{
    private const int Addresses = 600;

    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private ServerProcess _server = null!;
    private PostfixInstance _postfix = null!;

    private static readonly string[] Entries =
    [
        "u1+x@ex0.test", "u2@ex0.test", "u3@a.ex1.test", "u1@b.a.ex2.test", "u5+y@ex6.test",
        "ex3.test", "ex5.test", ".d.ex4.test", ".ex2.test", "org", ".net", "mail.ex7.test",
    ];

    private static string Table(bool wildcard) => string.Concat(Entries.Select((e, i) => i % 3 == 0 ? $"{e} relay{i}:\n" : $"{e} relay{i}:[hop{i}.test]\n"))
        + (wildcard ? "* wild:[wildcard.test]\n" : "");

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(PostfixInstance.Available, "needs root and Postfix (scripts/install-deps)");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        int serverPort = FreePort.Next();
        string plain = _dir.File("transport", Table(false)), wild = _dir.File("transport-wild", Table(true));
        _dir.File("transport.cf", $"memcache = {_mc.Endpoint}\nkey_format = transport:%s\nbackup = texthash:{plain}\n");
        _dir.File("transportwild.cf", $"memcache = {_mc.Endpoint}\nkey_format = transportwild:%s\nbackup = texthash:{wild}\n");
        string ini = _dir.File("server.ini", $"""
            [server]
            socketmap = inet:127.0.0.1:{serverPort}
            smtputf8_enable = no

            [maps:transport]
            config = transport.cf
            partial_keys = transport
            recipient_delimiter = +

            [maps:transportwild]
            config = transportwild.cf
            partial_keys = transport
            recipient_delimiter = +
            parent_domain_matches_subdomains = transport_maps
            """);
        _server = ServerProcess.Serve(ini, serverPort);

        string Service(string name, string maps, bool parents) =>
            $"{name} unix - - n - - trivial-rewrite -o transport_maps={maps}"
            + (parents ? " -o parent_domain_matches_subdomains=transport_maps" : "") + "\n";
        _postfix = new PostfixInstance(_dir, "recipient_delimiter = +\nrelay_domains =\n",
            Service("rw_hash", "hash:" + plain, false) + Service("rw_sm", $"socketmap:inet:127.0.0.1:{serverPort}:transport", false)
            + Service("rw_hash_wild", "hash:" + wild, true) + Service("rw_sm_wild", $"socketmap:inet:127.0.0.1:{serverPort}:transportwild", true));
        _postfix.Postmap(plain);
        _postfix.Postmap(wild);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _postfix?.Dispose();
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    private ResolveClient Client(string service)
    {
        string path = Path.Combine(_postfix.Queue, "private", service);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!File.Exists(path) && DateTime.UtcNow < deadline) Thread.Sleep(100);
        return new ResolveClient(path);
    }

    [TestCase(false, TestName = "Transport_resolve_from_socketmap_partial_keys_equals_hash_table_dot_parent_domains")]
    [TestCase(true, TestName = "Transport_resolve_from_socketmap_partial_keys_equals_hash_table_parent_domains_and_wildcard")]
    public void Same_resolve_replies_as_a_hash_table(bool wildcard)
    {
        using var hash = Client(wildcard ? "rw_hash_wild" : "rw_hash");
        using var socketmap = Client(wildcard ? "rw_sm_wild" : "rw_sm");
        var differences = new List<string>();
        int hits = 0;
        foreach (string address in AddressData.Generate(Addresses, seed: wildcard ? 4 : 3))
        {
            string expected = hash.Resolve(address), actual = socketmap.Resolve(address);
            if (expected.StartsWith("relay", StringComparison.Ordinal) || expected.StartsWith("wild", StringComparison.Ordinal)) hits++;
            if (expected != actual) differences.Add($"{address}:\n  hash:      {expected}\n  socketmap: {actual}");
        }
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(20)));
        Assert.That(hits, Is.GreaterThan(Addresses / 3), "too few addresses hit an entry");
    }
}
