using TcpTableServer.Differential;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The differential harness (scripts/differential) inside the suite, on a few
/// thousand keys over every configuration in tests/differential: Postfix's own memcache:
/// client against our server over socketmap: and tcp:, each side with its own memcached
/// and backup copy; answers, update/delete statuses, final cache items and backups must be
/// equal except for the differences the spec explains (section 8.2, counted separately).
/// </summary>
[TestFixture, Category("Interop"), Category("Differential")]
[NonParallelizable]
public sealed class DifferentialTests
{
    /// <summary>Both modes of spec 3.3: Postfix's default (smtputf8_enable = yes, Unicode folding) and ASCII folding.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public async Task Differential_AllConfigurations_ZeroUnexplainedDifferences(bool smtputf8)
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        var options = new DiffOptions
        {
            Keys = 1500,
            Updates = 20,
            Deletes = 1,
            Configs = [.. Directory.GetFiles(Path.Combine(Repo.Root(), "tests", "differential"), "*.cf").Order(StringComparer.Ordinal)],
        };
        var report = await new Harness(options, TestContext.Out).RunAsync(smtputf8);
        report.Print(TestContext.Out);

        Assert.Multiple(() =>
        {
            Assert.That(report.Configurations, Has.Count.EqualTo(options.Configs.Count).And.Count.GreaterThanOrEqualTo(9));
            Assert.That(report.CacheHits, Is.GreaterThan(0), "seeded cache items must answer");
            Assert.That(report.BackupHits, Is.GreaterThan(0), "backup-only keys must answer from the backup");
            Assert.That(report.Misses, Is.GreaterThan(0), "the corpus must contain misses");
            Assert.That(report.WriteBacks, Is.GreaterThan(0), "backup hits must be written back");
            Assert.That(report.Updates, Is.GreaterThan(0));
            Assert.That(report.Deletes, Is.GreaterThan(0));
            Assert.That(report.CacheItemsCompared, Is.GreaterThan(100));
            Assert.That(report.DifferenceLines, Is.Empty, string.Join("\n", report.DifferenceLines.Take(40)));
        });
    }
}
