using TcpTableServer.Differential;

// scripts/differential: every key through Postfix's own memcache: client and through our
// server (socketmap: and tcp:), then the same updates and deletes; exit 0 only without an
// unexplained difference. `--help` lists the options.

if (args.Length == 3 && args[0] == "--postfix-dict") return PostfixDictDriver.Run(args[1], args[2]);

DiffOptions options;
try
{
    options = DiffOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"error: {e.Message}\n\n{DiffOptions.Usage}");
    return 2;
}
if (options.Help)
{
    Console.WriteLine(DiffOptions.Usage);
    return 0;
}
if (options.ServerDll is { } serverDll) TcpTableServer.Tests.Support.ServerProcess.ServerDll = serverDll;
int differences = 0;
foreach (bool smtputf8 in options.Smtputf8Modes)
{
    Console.WriteLine($"== smtputf8_enable = {(smtputf8 ? "yes" : "no")} ==");
    var report = await new Harness(options, Console.Out).RunAsync(smtputf8);
    report.Print(Console.Out);
    differences += report.Differences;
}
return differences == 0 ? 0 : 1;
