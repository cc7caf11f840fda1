using TcpTableServer.Fuzz;

namespace TcpTableServer.Tests.Fuzz;

/// <summary>
/// A CI-sized slice of scripts/fuzz: every codec target, a fixed seed, 5000 mutated inputs
/// each (a few seconds in all), every invariant of the target checked on each input (see the
/// target classes in tests/TcpTableServer.Fuzz/Targets). The full run is
/// <c>scripts/fuzz --inputs 1000000</c> (docs/reliability.md "Fuzzing").
/// </summary>
public class FuzzSliceTests
{
    private const int Seed = 20261202;
    private const int Inputs = 5000;

    public static IEnumerable<string> Targets => FuzzTargets.All.Select(t => t.Name);

    [TestCaseSource(nameof(Targets))]
    public void NoCrashNorBrokenInvariant(string name)
    {
        var target = FuzzTargets.Find(name)!;
        // 1 s, not the script's 100 ms: a test's first inputs also pay for JIT compilation.
        var report = FuzzRunner.Run(target, new RunSettings(Inputs, Seed, SlowThreshold: TimeSpan.FromSeconds(1)));
        Assert.That(report.Inputs, Is.EqualTo(Inputs));
        var first = report.Findings.FirstOrDefault();
        Assert.That(report.Crashes + report.Slow, Is.Zero,
            first is null ? "" : $"{first.Kind} on input seed {first.InputSeed}, bytes {Convert.ToHexString(first.Input)}: {first.Message}");
    }

    /// <summary>The slice is only worth its time if it can fail: a target whose invariant is broken must be reported.</summary>
    [Test]
    public void ABrokenInvariantIsReportedWithItsInput()
    {
        var report = FuzzRunner.Run(new AlwaysBroken(), new RunSettings(10, Seed));
        Assert.That(report.Crashes, Is.EqualTo(10));
        Assert.That(report.Findings[0].Message, Does.Contain("invariant: broken"));
        Assert.That(FuzzRunner.Replay(new AlwaysBroken(), report.Findings[0].Input, report.Findings[0].InputSeed).Error,
            Is.TypeOf<FuzzViolation>());
    }

    private sealed class AlwaysBroken : FuzzTarget
    {
        public override string Name => "always-broken";
        public override IReadOnlyList<byte[]> Seeds { get; } = [[1, 2, 3]];
        public override IReadOnlyList<byte[]> Tokens { get; } = [];
        public override void Run(byte[] input, Random rng) => throw new FuzzViolation("broken");
    }
}
