using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// What the shipped configuration must show, as scripts/run serves it: the shipped config/ (INI, aliases.cf,
/// the texthash backup and nlog.config) answers postmap over socketmap: and tcp:, unknown
/// keys are not found, and stopping memcached keeps backup answers flowing. Only the ports
/// are moved to free ones so that the test never clashes with a running instance.
/// </summary>
[TestFixture, Category("Interop")]
public sealed class ExampleConfigTests
{
    [Test]
    public void ShippedExample_AnswersOverBothProtocols_AndSurvivesMemcachedStop()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        using var dir = new TempDir();
        var mc = MemcachedProcess.Start();
        try
        {
            int socketmap = FreePort.Next(), tcp = FreePort.Next();
            foreach (var f in Directory.GetFiles(Repo.Config))
            {
                var text = File.ReadAllText(f)
                    .Replace("inet:127.0.0.1:9000", $"inet:127.0.0.1:{socketmap}")
                    .Replace("inet:127.0.0.1:9001", $"inet:127.0.0.1:{tcp}")
                    .Replace("inet:127.0.0.1:11211", mc.Endpoint);
                File.WriteAllText(Path.Combine(dir.Path, Path.GetFileName(f)), text);
            }
            var postfix = new Postfix(dir.Path);
            using var server = ServerProcess.Serve(Path.Combine(dir.Path, "tcptable.ini"), socketmap, tcp);
            string sm = $"socketmap:inet:127.0.0.1:{socketmap}:aliases", tt = $"tcp:127.0.0.1:{tcp}";

            foreach (var table in new[] { sm, tt })
            {
                var r = postfix.Query("user@example.com", table);
                Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, "alice@example.org\n")), $"{table}: {r.Stderr}");
                Assert.That(postfix.Query("nobody@example.com", table).ExitCode, Is.EqualTo(1), table);
            }
            Assert.That(mc.Get("aliases:user@example.com"), Is.EqualTo(("alice@example.org", 0)), "V14: written back");

            mc.Dispose(); // memcached stops: V18 backup answers keep flowing, V19 misses stay misses
            foreach (var table in new[] { sm, tt })
            {
                var r = postfix.Query("Postmaster@Example.com", table);
                Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, "root@example.org\n")), $"{table}: {r.Stderr}");
                Assert.That(postfix.Query("nobody@example.com", table).ExitCode, Is.EqualTo(1), table);
            }
            Assert.That(server.Terminate(), Is.EqualTo(0), server.Stderr);
            Assert.That(server.Stderr, Does.Contain("ready"), "the shipped nlog.config logs to stderr");
        }
        finally
        {
            mc.Dispose();
        }
    }
}
