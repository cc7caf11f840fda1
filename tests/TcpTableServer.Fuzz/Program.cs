using TcpTableServer.Fuzz;

// scripts/fuzz: every codec target fed N mutated inputs (whole and split into segments);
// one line per target, exit 1 on any crash or slow input. `--help` lists the options.

FuzzOptions options;
try
{
    options = FuzzOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n\n{FuzzOptions.Usage}");
    return 2;
}
if (options.Help)
{
    Console.WriteLine(FuzzOptions.Usage);
    return 0;
}
if (options.List)
{
    foreach (var t in FuzzTargets.All) Console.WriteLine(t.Name);
    return 0;
}
if (options.Replay is { } file)
{
    var target = FuzzTargets.Find(options.Targets[0])!;
    var (error, took) = FuzzRunner.Replay(target, File.ReadAllBytes(file), options.InputSeed);
    Console.WriteLine(error is null ? $"ok ({took.TotalMilliseconds:F1} ms)" : FuzzRunner.Describe(error));
    return error is null ? 0 : 1;
}

var targets = options.Targets.Count == 0 ? FuzzTargets.All : options.Targets.Select(t => FuzzTargets.Find(t)!).ToList();
Console.WriteLine($"seed {options.Seed}, {options.Inputs} inputs per target" +
                  (options.TimeLimit is { } l ? $", at most {l.TotalSeconds:F0} s each" : ""));
Console.WriteLine($"{"target",-16} {"inputs",10} {"seconds",8} {"inputs/s",9} {"crashes",7} {"slow",5}");
int bad = 0;
foreach (var target in targets)
{
    var r = FuzzRunner.Run(target, new RunSettings(options.Inputs, options.Seed, options.TimeLimit, options.CrashDirectory));
    Console.WriteLine($"{r.Target,-16} {r.Inputs,10} {r.Elapsed.TotalSeconds,8:F1} {r.InputsPerSecond,9:F0} {r.Crashes,7} {r.Slow,5}");
    foreach (var f in r.Findings.Take(5))
        Console.WriteLine($"  {f.Kind} (input seed {f.InputSeed}, {f.SavedAs}): {f.Message.Split('\n')[0]}");
    bad += r.Crashes + r.Slow;
}
return bad == 0 ? 0 : 1;
