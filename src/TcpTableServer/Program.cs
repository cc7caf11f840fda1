using System.CommandLine;
using TcpTableServer.Host;

// TcpTableServer: a tcp_table(5) and socketmap_table(5) server with memcache_table(5)
// semantics. Without a verb it serves; the verbs run the same map code without a server.

InlineExecution.ConfigureSocketCompletions(); // before any socket exists: answers run on the thread that received them

var configOption = new Option<string>("--config", "-c")
{
    Description = "The server INI file (default: $TCPTABLESERVER_CONFIG, else /etc/tcptableserver/tcptable.ini)",
    Recursive = true,
};

var root = new RootCommand("TcpTableServer: Postfix tcp: and socketmap: tables with memcache_table(5) semantics.");
root.Options.Add(configOption);
root.SetAction((pr, ct) => ServerCommand.RunAsync(ConfigPath(pr), ct));

var mapArg = new Argument<string>("map") { Description = "Map name (the NAME of [maps:NAME], case-sensitive)" };
var keyArg = new Argument<string>("key") { Description = "Lookup key, as Postfix would send it" };
var valueArg = new Argument<string>("value") { Description = "Value to store" };

var explainOption = new Option<bool>("--explain")
{
    Description = "Print every step of the lookup (key folding, domain list, key_format, memcached attempts with raw replies, backup, write-back, tier, reply bytes) instead of the value; runs in this process, so the server's L1 is not seen",
};
var query = new Command("query", "Look a key up (exit 0 found, 1 not found, 75 temporary error, 78 configuration error)")
    { mapArg, keyArg, explainOption };
query.SetAction((pr, ct) => CliCommands.QueryAsync(ConfigPath(pr), pr.GetValue(mapArg)!, pr.GetValue(keyArg)!,
    pr.GetValue(explainOption), ct));

var put = new Command("put", "Update memcached and the backup (memcache_table(5) update; exit 0 updated, 1 not updated)")
    { mapArg, keyArg, valueArg };
put.SetAction((pr, ct) => CliCommands.PutAsync(ConfigPath(pr), pr.GetValue(mapArg)!, pr.GetValue(keyArg)!, pr.GetValue(valueArg)!, ct));

var delete = new Command("delete", "Delete from memcached and the backup (exit 0 deleted, 1 not found)") { mapArg, keyArg };
delete.SetAction((pr, ct) => CliCommands.DeleteAsync(ConfigPath(pr), pr.GetValue(mapArg)!, pr.GetValue(keyArg)!, ct));

var sequence = new Command("sequence", "List every entry of the map's backup table (first/next)") { mapArg };
sequence.SetAction((pr, ct) => CliCommands.SequenceAsync(ConfigPath(pr), pr.GetValue(mapArg)!, ct));

var postfixOption = new Option<bool>("--postfix")
{
    Description = "Also check Postfix's configuration against this server (postconf, then postmap -q on each table)",
};
var postconfDirOption = new Option<string?>("--postconf-dir") { Description = "Postfix's configuration directory (postconf -c; default: Postfix's own)" };
var check = new Command("check", "Read the configuration and open every map, then exit (0 ok, 78 configuration error)")
    { postfixOption, postconfDirOption };
check.SetAction((pr, ct) => CliCommands.CheckAsync(ConfigPath(pr), pr.GetValue(postfixOption) || pr.GetValue(postconfDirOption) is not null,
    pr.GetValue(postconfDirOption), ct));

var pidOption = new Option<int?>("--pid") { Description = "The server's process id (default: the servers running with this --config)" };
var reload = new Command("reload", "Check the configuration, then make the running server reload it (SIGHUP; exit 0 sent, 78 configuration error, 69 no server)")
    { pidOption };
reload.SetAction((pr, ct) => ReloadCommand.RunAsync(ConfigPath(pr), pr.GetValue(pidOption),
    root.Subcommands.Select(c => c.Name).ToHashSet(StringComparer.Ordinal), ct));

var fileArg = new Argument<string>("file") { Description = "A postmap(1) source file: key whitespace value lines" };
var warmOption = new Option<bool>("--warm") { Description = "Also set every entry in memcached, with the map's ttl and flags" };
var skipBadOption = new Option<bool>("--skip-bad") { Description = "Load the good lines and list the bad ones instead of stopping" };
var load = new Command("load", "Bulk-load a postmap(1) source file into the map's lmdb backup (exit 0 loaded, 65 bad line, nothing written, 75 temporary error, 78 configuration error)")
    { warmOption, skipBadOption, mapArg, fileArg };
load.SetAction((pr, ct) => LoadCommand.RunAsync(ConfigPath(pr), pr.GetValue(mapArg)!, pr.GetValue(fileArg)!,
    pr.GetValue(warmOption), pr.GetValue(skipBadOption), ct));

root.Subcommands.Add(query);
root.Subcommands.Add(put);
root.Subcommands.Add(delete);
root.Subcommands.Add(sequence);
root.Subcommands.Add(check);
root.Subcommands.Add(reload);
root.Subcommands.Add(load);

// No response files: a key such as "@example.net" (a catch-all) is an argument, not a file to read.
var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
if (parsed.Errors.Count > 0)
{
    foreach (var e in parsed.Errors) Console.Error.WriteLine($"error: {e.Message}");
    return ExitCodes.Usage;
}
return await parsed.InvokeAsync();

string ConfigPath(ParseResult pr) =>
    pr.GetValue(configOption)
    ?? Environment.GetEnvironmentVariable("TCPTABLESERVER_CONFIG")
    ?? "/etc/tcptableserver/tcptable.ini";
