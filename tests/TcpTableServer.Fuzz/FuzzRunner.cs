using System.Diagnostics;

namespace TcpTableServer.Fuzz;

/// <summary>A crashing or too slow input, with the seed that replays its limits and splits.</summary>
public sealed record Finding(string Kind, string Message, byte[] Input, int InputSeed, string? SavedAs);

/// <summary>What one target's run found.</summary>
public sealed record TargetReport(string Target, long Inputs, TimeSpan Elapsed, IReadOnlyList<Finding> Findings, int Crashes, int Slow)
{
    public double InputsPerSecond => Inputs / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>How a run is bounded and where findings go.</summary>
public sealed record RunSettings(long Inputs, int Seed, TimeSpan? TimeLimit = null, string? CrashDirectory = null,
    TimeSpan? SlowThreshold = null, int MaxSavedFindings = 20);

/// <summary>
/// Drives one target: input i is mutated from the corpus with its own seed (drawn from the
/// run's seed and the target name), so a run is reproducible and any finding replays from its
/// bytes and input seed alone. Any exception is a crash; an input taking longer than the slow
/// threshold (100 ms), on the wall clock and then in CPU time on a second run, is a slow
/// finding. Both are written to the crash directory.
/// </summary>
public static class FuzzRunner
{
    public static readonly TimeSpan DefaultSlowThreshold = TimeSpan.FromMilliseconds(100);

    public static TargetReport Run(FuzzTarget target, RunSettings settings)
    {
        var rng = new Random(settings.Seed ^ StableHash(target.Name));
        var mutator = new Mutator(target.Seeds, target.Tokens);
        TimeSpan slow = settings.SlowThreshold ?? DefaultSlowThreshold;
        var findings = new List<Finding>();
        int crashes = 0, slowCount = 0;
        var clock = Stopwatch.StartNew();
        long i = 0;
        for (; i < settings.Inputs; i++)
        {
            if (settings.TimeLimit is { } limit && (i & 255) == 0 && clock.Elapsed >= limit) break;
            int inputSeed = rng.Next();
            byte[] input = mutator.Next(new Random(inputSeed));
            var (error, took) = Replay(target, input, inputSeed);
            if (error is null && took > slow) (error, took) = ReplayOnCpu(target, input, inputSeed);
            if (error is not null)
            {
                crashes++;
                Record(findings, settings, target, "crash", Describe(error), input, inputSeed);
            }
            else if (took > slow)
            {
                slowCount++;
                Record(findings, settings, target, "slow", $"took {took.TotalMilliseconds:F0} ms of CPU", input, inputSeed);
            }
        }
        return new TargetReport(target.Name, i, clock.Elapsed, findings, crashes, slowCount);
    }

    /// <summary>Runs one input with the limits and splits of <paramref name="inputSeed"/>; the exception, if any, and the time taken.</summary>
    public static (Exception? Error, TimeSpan Took) Replay(FuzzTarget target, byte[] input, int inputSeed)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            target.Run(input, new Random(~inputSeed));
            return (null, Stopwatch.GetElapsedTime(start));
        }
        catch (Exception e)
        {
            return (e, Stopwatch.GetElapsedTime(start));
        }
    }

    /// <summary>
    /// A second run of an input that took too long, timed by the process's CPU time: on a
    /// shared machine the wall clock also counts other processes' turns.
    /// </summary>
    private static (Exception? Error, TimeSpan Took) ReplayOnCpu(FuzzTarget target, byte[] input, int inputSeed)
    {
        using var self = Process.GetCurrentProcess();
        TimeSpan before = self.TotalProcessorTime;
        var (error, _) = Replay(target, input, inputSeed);
        self.Refresh();
        return (error, self.TotalProcessorTime - before);
    }

    public static string Describe(Exception e) => e is FuzzViolation
        ? $"invariant: {e.Message}"
        : $"{e.GetType().Name}: {e.Message}\n{e.StackTrace}";

    private static void Record(List<Finding> findings, RunSettings settings, FuzzTarget target, string kind,
        string message, byte[] input, int inputSeed)
    {
        if (findings.Count >= settings.MaxSavedFindings) return;
        string? path = null;
        if (settings.CrashDirectory is { } dir)
        {
            Directory.CreateDirectory(dir);
            path = Path.Combine(dir, $"{target.Name}-{kind}-seed{inputSeed}.bin");
            File.WriteAllBytes(path, input);
            File.WriteAllText(Path.ChangeExtension(path, ".txt"),
                $"target {target.Name}, input seed {inputSeed}\n" +
                $"replay: scripts/fuzz --target {target.Name} --replay {path} --input-seed {inputSeed}\n{message}\n");
        }
        findings.Add(new Finding(kind, message, input, inputSeed, path));
    }

    /// <summary>FNV-1a of the name: string.GetHashCode differs between processes.</summary>
    private static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)h;
    }
}
