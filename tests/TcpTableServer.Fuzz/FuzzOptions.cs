using System.Globalization;

namespace TcpTableServer.Fuzz;

/// <summary>Command line of scripts/fuzz.</summary>
public sealed record FuzzOptions
{
    public const string Usage = """
        usage: scripts/fuzz [--inputs N] [--target NAME]... [--seed N] [--time-limit SECONDS]
                            [--crash-dir DIR] [--replay FILE --input-seed N] [--list]
          --inputs N          inputs per target (default 1000000)
          --target NAME       only this target (repeatable; default: all, see --list)
          --seed N            run seed (default 1): the same seed mutates the same inputs
          --time-limit S      stop a target after S seconds even before N inputs
          --crash-dir DIR     where crashing/slow inputs go (default .artifacts/fuzz)
          --replay FILE       run one saved input through --target with --input-seed and report
        Exit code 0 only when no target crashed and no input took longer than 100 ms.
        """;

    public long Inputs { get; init; } = 1_000_000;
    public List<string> Targets { get; init; } = [];
    public int Seed { get; init; } = 1;
    public TimeSpan? TimeLimit { get; init; }
    public string CrashDirectory { get; init; } = Path.Combine(".artifacts", "fuzz");
    public string? Replay { get; init; }
    public int InputSeed { get; init; }
    public bool List { get; init; }
    public bool Help { get; init; }

    public static FuzzOptions Parse(string[] args)
    {
        var o = new FuzzOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            long Number() => long.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
                ? n : throw new ArgumentException($"{args[i - 1]}: not a number: {args[i]}");
            o = args[i] switch
            {
                "--inputs" => o with { Inputs = Number() },
                "--target" => o with { Targets = [.. o.Targets, .. Value().Split(',', StringSplitOptions.RemoveEmptyEntries)] },
                "--seed" => o with { Seed = (int)Number() },
                "--time-limit" => o with { TimeLimit = TimeSpan.FromSeconds(Number()) },
                "--crash-dir" => o with { CrashDirectory = Value() },
                "--replay" => o with { Replay = Value() },
                "--input-seed" => o with { InputSeed = (int)Number() },
                "--list" => o with { List = true },
                "--help" or "-h" => o with { Help = true },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        foreach (string t in o.Targets)
            if (FuzzTargets.Find(t) is null) throw new ArgumentException($"unknown target {t} (--list)");
        if (o.Replay is not null && o.Targets.Count != 1) throw new ArgumentException("--replay needs exactly one --target");
        return o;
    }
}
