using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// partial_keys = access, differential through Postfix's own smtpd: the same SMTP replies from
/// <c>check_client_access, check_helo_access, check_sender_access, check_recipient_access</c>
/// with a <c>hash:</c> table and with <c>socketmap:inet:127.0.0.1:PORT:MAP</c> pointing at our
/// server (real memcached, the same data as texthash: backup), for generated sessions covering
/// extensions, parent domains, localpart@, IPv4 and IPv6 prefixes and host names, with
/// parent_domain_matches_subdomains both as Postfix's default (smtpd_access_maps in it) and
/// without smtpd_access_maps. Every value rejects with a distinct text (550 hit-KEY) and the
/// list ends with a plain reject, so no mail is queued.
/// Not covered: a HELO name that is an IP address (hash: probes it alone; the server, seeing
/// an address, also probes its prefixes: docs/partial-keys.md).
/// </summary>
[TestFixture, Category("Interop"), NonParallelizable, System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AccessSmtpdDifferentialTests
{
    private const int Sessions = 300;

    private TempDir _dir = null!;
    private MemcachedProcess _mc = null!;
    private ServerProcess _server = null!;
    private PostfixInstance _postfix = null!;
    private int _hashPort, _socketmapPort, _hashDotPort, _socketmapDotPort;

    [OneTimeSetUp]
    public void Start()
    {
        Assume.That(PostfixInstance.Available, "needs root and Postfix (scripts/install-deps)");
        _dir = new TempDir();
        _mc = MemcachedProcess.Start();
        int serverPort = FreePort.Next();
        (_hashPort, _socketmapPort, _hashDotPort, _socketmapDotPort) = (FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());

        string table = _dir.File("access", string.Concat(AccessData.Entries.Select(e => $"{e} 550 hit-{e}\n")));
        _dir.File("access.cf", $"memcache = {_mc.Endpoint}\nkey_format = access:%s\nbackup = texthash:{table}\n");
        _dir.File("accessdot.cf", $"memcache = {_mc.Endpoint}\nkey_format = accessdot:%s\nbackup = texthash:{table}\n");
        string ini = _dir.File("server.ini", $"""
            [server]
            socketmap = inet:127.0.0.1:{serverPort}
            smtputf8_enable = no

            [maps:access]
            config = access.cf
            partial_keys = access
            recipient_delimiter = +

            [maps:accessdot]
            config = accessdot.cf
            partial_keys = access
            recipient_delimiter = +
            parent_domain_matches_subdomains = relay_domains
            """);
        _server = ServerProcess.Serve(ini, serverPort);

        const string Checks = "check_client_access {0}, check_helo_access {0}, check_sender_access {0}, check_recipient_access {0}, reject";
        string Service(int port, string tableName, string parents) =>
            $"127.0.0.1:{port} inet n - n - - smtpd -o {{ smtpd_recipient_restrictions = {string.Format(Checks, tableName)} }}"
            + (parents is null ? "" : $" -o {{ parent_domain_matches_subdomains = {parents} }}") + "\n";
        string hash = "hash:" + table;
        _postfix = new PostfixInstance(_dir, "recipient_delimiter = +\nsmtpd_relay_restrictions =\n",
            Service(_hashPort, hash, null!) + Service(_socketmapPort, $"socketmap:inet:127.0.0.1:{serverPort}:access", null!)
            + Service(_hashDotPort, hash, "relay_domains") + Service(_socketmapDotPort, $"socketmap:inet:127.0.0.1:{serverPort}:accessdot", "relay_domains"));
        _postfix.Postmap(table);
        foreach (int port in new[] { _hashPort, _socketmapPort, _hashDotPort, _socketmapDotPort }) _postfix.WaitFor(port);
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _postfix?.Dispose();
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    /// <summary>One session's RCPT reply: client name/address, HELO, sender, recipient.</summary>
    private static string Rcpt(int port, AccessData.Session s)
    {
        using var smtp = new SmtpSession(port);
        smtp.Send("EHLO client.test");
        string x = smtp.Send($"XCLIENT NAME={s.Name} ADDR={(s.Address.Contains(':') ? "IPV6:" : "")}{s.Address}");
        if (!x.StartsWith("220", StringComparison.Ordinal)) return "XCLIENT: " + x;
        smtp.Send("EHLO " + s.Helo);
        string mail = smtp.Send($"MAIL FROM:<{s.Sender}>");
        string rcpt = mail.StartsWith("250", StringComparison.Ordinal) ? smtp.Send($"RCPT TO:<{s.Recipient}>") : "MAIL: " + mail;
        smtp.Send("QUIT");
        return rcpt;
    }

    [TestCase(false, TestName = "Access_smtpd_replies_from_socketmap_partial_keys_equal_hash_table_parent_domain_matches_subdomains_default")]
    [TestCase(true, TestName = "Access_smtpd_replies_from_socketmap_partial_keys_equal_hash_table_dot_parent_domains")]
    public void Same_replies_as_a_hash_table(bool dotParents)
    {
        int hashPort = dotParents ? _hashDotPort : _hashPort, socketmapPort = dotParents ? _socketmapDotPort : _socketmapPort;
        var differences = new List<string>();
        int hits = 0;
        foreach (var s in AccessData.Sessions(Sessions, seed: dotParents ? 2 : 1))
        {
            string expected = Rcpt(hashPort, s), actual = Rcpt(socketmapPort, s);
            if (expected.Contains("hit-", StringComparison.Ordinal)) hits++;
            if (expected != actual) differences.Add($"{s}:\n  hash:      {expected}\n  socketmap: {actual}");
        }
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(20)));
        // the data must exercise the table, not only the final reject
        Assert.That(hits, Is.GreaterThan(Sessions / 2), "too few sessions hit an entry");
    }
}
