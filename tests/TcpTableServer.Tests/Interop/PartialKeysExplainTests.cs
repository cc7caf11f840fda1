using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// <c>query --explain</c> of a map with partial_keys (our binary, real memcached, texthash
/// backup): the report lists the probes in order, each probe's own steps (memcached, backup,
/// write-back), the probe that answered and the answer as Postfix ends up with it; plain
/// <c>query</c> gives the same answer.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class PartialKeysExplainTests
{
    private static (int Code, string Stdout) Run(params string[] args)
    {
        using var p = ServerProcess.Start(args);
        int code = p.WaitForExit(60);
        TestContext.Out.WriteLine(p.Stdout + p.Stderr);
        return (code, p.Stdout);
    }

    [Test]
    public void Explain_lists_the_probes_and_the_answer_with_the_propagated_extension()
    {
        using var mc = MemcachedProcess.Start();
        using var d = new TempDir();
        d.File("backup", "user@remote.test bob@dest.test\n");
        d.File("v.cf", $"memcache = {mc.Endpoint}\nkey_format = v:%s\nbackup = texthash:{d["backup"]}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n"
            + "[maps:virtual]\nconfig = v.cf\npartial_keys = virtual\nrecipient_delimiter = +\nmydestination = local.test\n");

        var (code, r) = Run("--config", ini, "query", "--explain", "virtual", "user+ext@remote.test");

        Assert.That(code, Is.EqualTo(0));
        Assert.That(r, Does.Contain("partial_keys = virtual, recipient_delimiter = +"));
        Assert.That(r, Does.Contain("partial_keys = virtual: 3 probe(s)"));
        Assert.That(r, Does.Contain("1. \"user+ext@remote.test\"  (full key)"));
        Assert.That(r, Does.Contain("2. \"user@remote.test\"  (without extension, extension \"+ext\")"));
        Assert.That(r, Does.Contain("3. \"@remote.test\"  (@domain)"));
        Assert.That(r, Does.Contain("> get v:user+ext@remote.test\\r\\n"), "probe 1 asked memcached");
        Assert.That(r, Does.Contain("> get v:user@remote.test\\r\\n"), "probe 2 asked memcached");
        Assert.That(r, Does.Not.Contain("> get v:@remote.test"), "probe 3 not asked after the hit");
        Assert.That(r, Does.Contain("partial_keys: probe 2 \"user@remote.test\": found \"bob@dest.test\""));
        Assert.That(r, Does.Contain("found \"bob+ext@dest.test\""));
        Assert.That(r, Does.Contain("tcp reply:       200 bob+ext@dest.test\\n"));
        Assert.That(mc.Get("v:user@remote.test")?.Value, Is.EqualTo("bob@dest.test"), "the backup hit was written back under the probe's key");

        var (plainCode, plain) = Run("--config", ini, "query", "virtual", "user+ext@remote.test");
        Assert.That((plainCode, plain), Is.EqualTo((0, "bob+ext@dest.test\n")));
    }
}
