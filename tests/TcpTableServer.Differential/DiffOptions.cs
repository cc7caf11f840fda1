namespace TcpTableServer.Differential;

/// <summary>Command-line options of the differential harness.</summary>
public sealed record DiffOptions
{
    public int Keys { get; init; } = 2000;
    public int Seed { get; init; } = 20261125;
    public List<string> Configs { get; init; } = [];
    public bool Keep { get; init; }
    public bool Help { get; init; }
    public int Updates { get; init; } = 40;
    public int Deletes { get; init; } = 4;
    /// <summary>Where TcpTableServer.dll is (default: beside the harness).</summary>
    public string? ServerDll { get; init; }
    /// <summary>Print at most this many differences.</summary>
    public int Show { get; init; } = 50;
    /// <summary>The smtputf8_enable modes to run, each on both sides (Postfix's main.cf and the server's [server]).</summary>
    public IReadOnlyList<bool> Smtputf8Modes { get; init; } = [true, false];

    public const string Usage = """
        usage: scripts/differential [--keys N] [--seed S] [--config F.cf]... [--smtputf8 yes|no|both] [--updates N] [--deletes N] [--keep]
          --keys N      lookup keys per configuration (default 2000)
          --seed S      corpus seed (default 20261125); the same seed gives the same keys
          --config F    a memcache_table(5) file (repeatable; default: tests/differential/*.cf)
          --smtputf8 M  smtputf8_enable of Postfix (main.cf) and of the server: yes, no, or both (default: both,
                        yes first); each mode is a complete run with its own report
          --updates N   updates per configuration with a writable backup or none (default 40)
          --deletes N   deletes per configuration and side (default 4; our side runs one CLI process each)
          --show N      print at most N differences (default 50)
          --server-dll F  run this TcpTableServer.dll instead of the one beside the harness (e.g. an older build)
          --keep        keep the work directory (memcached dumps, side configs, backups)
        Exit 0: no unexplained difference; 1: differences; 2: usage.
        """;

    public static DiffOptions Parse(IReadOnlyList<string> args)
    {
        var o = new DiffOptions();
        var configs = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.TryParse(Value(), out var n) && n >= 0 ? n : throw new ArgumentException($"{args[i]}: not a number");
            o = args[i] switch
            {
                "--keys" => o with { Keys = Int() },
                "--seed" => o with { Seed = Int() },
                "--config" => o with { Configs = [.. o.Configs, Path.GetFullPath(Value())] },
                "--updates" => o with { Updates = Int() },
                "--smtputf8" => o with { Smtputf8Modes = Value() switch
                {
                    "yes" => [true],
                    "no" => [false],
                    "both" => [true, false],
                    var m => throw new ArgumentException($"--smtputf8: {m}: expected yes, no or both"),
                } },
                "--deletes" => o with { Deletes = Int() },
                "--show" => o with { Show = Int() },
                "--server-dll" => o with { ServerDll = Path.GetFullPath(Value()) },
                "--keep" => o with { Keep = true },
                "--help" or "-h" => o with { Help = true },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        return o;
    }
}
