using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// Real Sendmail 8.17 (its socket map class speaks socketmap, spec 2) against the server and a
/// real memcached, in address test mode (<c>/map NAME KEY</c>). Sendmail reports a found value
/// as "returns VALUE (0)" and everything else as "no match (STATUS)", STATUS a sysexits code:
/// 68 (EX_NOTFOUND) for NOTFOUND, 75 (EX_TEMPFAIL) for TEMP and for EOF, 69 (EX_UNAVAILABLE)
/// for PERM.
/// Sendmail keeps its connection across idle periods and takes EOF as a temporary failure
/// without a retry (spec 2.6): the idle tests show the default never closes it, and that the
/// tests would see a server that does. SendmailClientTests imitate this client in a few
/// lines; these prove it with the real one.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class SendmailInteropTests
{
    private const string Found = "returns";
    private const string NotFound = "no match (68)";   // EX_NOTFOUND
    private const string TempFail = "no match (75)";     // EX_TEMPFAIL
    private const string PermFail = "no match (69)";     // EX_UNAVAILABLE

    /// <summary>Longer than the 1 s timeout of the configured-timeout test plus its sweeper tick.</summary>
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(3);

    private MemcachedProcess _mc = null!;
    private TempDir _dir = null!;
    private ServerProcess _server = null!;
    private int _port;

    [OneTimeSetUp]
    public void Start()
    {
        if (!File.Exists(SendmailAddressTest.Binary))
            Assert.Fail($"Sendmail is not unpacked at {SendmailAddressTest.Binary}: run scripts/install-deps");
        _mc = MemcachedProcess.Start();
        _dir = new TempDir();
        // Configurations B (with a texthash backup) and K (memcached down, no backup) of spec 7.2.
        _dir.File("backup.txt", "backed@example.com from-backup\n");
        WriteConfig("B");
        WriteConfig("K");
        _server = Serve("", out _port);
    }

    /// <summary>
    /// Spec 7.2 configuration <paramref name="id"/> as its map's .cf file, placeholders filled
    /// in as VectorInteropRig does: {mc} this fixture's memcached, {down} a closed port,
    /// {backup} the texthash file.
    /// </summary>
    private void WriteConfig(string id)
    {
        var (name, lines) = SpecConfigurations.All[id];
        _dir.File(name + ".cf", string.Join("\n", lines.Select(l => l
            .Replace("{mc}", _mc.Endpoint)
            .Replace("{down}", $"inet:127.0.0.1:{FreePort.Closed()}")
            .Replace("{backup}", $"texthash:{_dir["backup.txt"]}"))) + "\n");
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _server?.Dispose();
        _mc?.Dispose();
        _dir?.Dispose();
    }

    [SetUp]
    public void Seed()
    {
        _mc.FlushAll();
        _mc.Set("aliases:user@example.com", "alice@example.org");
        _mc.Set("aliases:spaces@example.com", "a b  c\t100%");
    }

    /// <summary>The server on the shared maps with <paramref name="serverLines"/> added to [server].</summary>
    private ServerProcess Serve(string serverLines, out int port)
    {
        port = FreePort.Next();
        string ini = _dir.File($"server-{port}.ini",
            $"[server]\nsocketmap = inet:127.0.0.1:{port}\n{serverLines}\n[maps:backed]\nconfig = backed.cf\n[maps:down]\nconfig = down.cf\n");
        return ServerProcess.Serve(ini, port);
    }

    /// <summary>
    /// The smallest sendmail.cf that Sendmail 8.17 runs -bt on: the version level, the local
    /// mailer it insists on ("No local mailer defined"), and one socket map per map
    /// name (Sendmail sends the K name as the socketmap name). <c>unserved</c> is a name the
    /// server does not serve. No queue directory or setgid is needed in test mode.
    /// </summary>
    private SendmailAddressTest Start(int port)
    {
        string cf = _dir.File($"sendmail-{port}-{Guid.NewGuid():N}.cf",
            "V10/Berkeley\n" +
            "Mlocal, P=/bin/true, F=l, A=true\n" +
            string.Concat(new[] { "backed", "down", "unserved" }.Select(m => $"K{m} socket -T<TMPF> inet:{port}@127.0.0.1\n")));
        return new SendmailAddressTest(cf);
    }

    [Test]
    public void V01_CacheHit_SendmailReturnsTheValue()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("backed", "user@example.com"), Is.EqualTo($"map_lookup: backed (user@example.com) {Found} alice@example.org (0)"), sm.Transcript);
    }

    /// <summary>V08 shape (a value with spaces, a tab and '%' arrives whole), on configuration B.</summary>
    [Test]
    public void ValueWithSpacesTabAndPercent_ReachesSendmailWhole()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("backed", "spaces@example.com"), Is.EqualTo($"map_lookup: backed (spaces@example.com) {Found} a b  c\t100% (0)"), sm.Transcript);
    }

    /// <summary>
    /// V14 shape on configuration B: a memcached miss answered by the backup and written back
    /// with flags 7. The key is lower-case, so unlike V14 it does not show the backup receiving
    /// the original case.
    /// </summary>
    [Test]
    public void BackupHit_SendmailReturnsTheBackupValue_AndMemcachedIsRefilled()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("backed", "backed@example.com"), Is.EqualTo($"map_lookup: backed (backed@example.com) {Found} from-backup (0)"), sm.Transcript);
        Assert.That(_mc.Get("aliases:backed@example.com"), Is.EqualTo(("from-backup", 7)));
    }

    [Test]
    public void V15_MissAndBackupMiss_SendmailReportsNoMatch()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("backed", "nobody@example.com"), Is.EqualTo($"map_lookup: backed (nobody@example.com) {NotFound}"), sm.Transcript);
    }

    [Test]
    public void V17_MemcachedDown_TEMP_IsSendmailsTemporaryFailure()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("down", "user@example.com"), Is.EqualTo($"map_lookup: down (user@example.com) {TempFail}"), sm.Transcript);
    }

    [Test]
    public void Spec2_6_UnknownMapName_PERM_IsSendmailsUnavailable()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("unserved", "user@example.com"), Is.EqualTo($"map_lookup: unserved (user@example.com) {PermFail}"), sm.Transcript);
        Assert.That(sm.Map("backed", "user@example.com"), Does.Contain(Found), "the connection still serves: " + sm.Transcript);
    }

    [Test]
    public void Spec2_6_DefaultNeverClosesIdle_SendmailsNextLookupOnTheSameConnectionIsAnswered()
    {
        using var sm = Start(_port);
        Assert.That(sm.Map("backed", "user@example.com"), Does.Contain(Found), sm.Transcript);
        Thread.Sleep(Idle);
        Assert.That(sm.Map("backed", "user@example.com"), Is.EqualTo($"map_lookup: backed (user@example.com) {Found} alice@example.org (0)"), sm.Transcript);
        Assert.That(_server.Stderr, Does.Not.Contain("idle"));
    }

    [Test]
    public void Spec2_6_ConfiguredIdleTimeout_SendmailsNextLookupAfterTheCloseIsATemporaryFailure()
    {
        // What the default avoids, shown with 1 s (the loader warns below 30 s): Sendmail
        // writes on the closed connection, reads EOF and does not retry.
        using var server = Serve("socketmap_idle_timeout = 1", out int port);
        using var sm = Start(port);
        Assert.That(sm.Map("backed", "user@example.com"), Does.Contain(Found), sm.Transcript);
        Thread.Sleep(Idle);
        Assert.That(sm.Map("backed", "user@example.com"), Is.EqualTo($"map_lookup: backed (user@example.com) {TempFail}"), sm.Transcript);
        // Sendmail then closes its map and reopens it: one lookup fails per idle close.
        Assert.That(sm.Map("backed", "user@example.com"), Does.Contain(Found), sm.Transcript);
    }
}
