using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Explain;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer.Host;

/// <summary>
/// The command-line verbs: the same map code as the server (MapSet, MemcacheTable), no
/// server needed. Output and exit codes follow postmap -q / -s where there is a parallel.
/// </summary>
public static class CliCommands
{
    /// <summary>
    /// <c>query</c>; with <paramref name="explain"/> the lookup runs with a
    /// <see cref="LookupTrace"/> attached and the report (<see cref="ExplainReport"/>) goes to
    /// standard output instead of the value. Exit codes are the same either way.
    /// </summary>
    public static Task<int> QueryAsync(string ini, string map, string key, bool explain, CancellationToken ct) =>
        WithMapAsync(ini, map, async (maps, table) =>
        {
            string octets = Octets.FromUtf8(key);
            var trace = explain ? new LookupTrace() : null;
            LookupResult r;
            if (trace is null)
                r = await table.LookupAsync(octets, ct);
            else
                using (LookupTrace.Attach(trace))
                    r = await table.LookupAsync(octets, ct);
            int exit = r.Status switch
            {
                LookupStatus.Found => ExitCodes.Found,
                LookupStatus.NotFound => ExitCodes.NotFound,
                LookupStatus.ConfigError => ExitCodes.Config,
                _ => ExitCodes.TempFail,
            };
            if (trace is not null)
            {
                var definition = maps.Definition.Maps.FirstOrDefault(m => m.Name == map);
                WriteOctets(Octets.FromUtf8(ExplainReport.Format(map, octets, definition, maps.Settings[map], trace, r, exit)));
                return exit;
            }
            switch (r.Status)
            {
                case LookupStatus.Found:
                    WriteOctets(r.Value! + "\n");
                    return ExitCodes.Found;
                case LookupStatus.NotFound:
                    return ExitCodes.NotFound;
                default:
                    return ErrorExit(r.Status == LookupStatus.ConfigError, $"{map}: lookup of \"{key}\"");
            }
        });

    public static Task<int> PutAsync(string ini, string map, string key, string value, CancellationToken ct) =>
        WithMapAsync(ini, map, async (_, table) =>
            UpdateExit(await table.UpdateAsync(Octets.FromUtf8(key), Octets.FromUtf8(value), ct), map, $"update of \"{key}\"", "not updated"));

    public static Task<int> DeleteAsync(string ini, string map, string key, CancellationToken ct) =>
        WithMapAsync(ini, map, async (_, table) =>
            UpdateExit(await table.DeleteAsync(Octets.FromUtf8(key), ct), map, $"delete of \"{key}\"", "not found"));

    public static Task<int> SequenceAsync(string ini, string map, CancellationToken ct) =>
        WithMapAsync(ini, map, async (_, table) =>
        {
            var r = await table.SequenceAsync(ct);
            if (r.Status == UpdateStatus.Success)
            {
                foreach (var (k, v) in r.Entries) WriteOctets($"{k}\t{v}\n");
                return ExitCodes.Found;
            }
            return UpdateExit(new UpdateResult(r.Status), map, "sequence", "no entries (first/next needs a backup table)");
        });

    public static Task<int> CheckAsync(string ini, CancellationToken ct) => CheckAsync(ini, postfix: false, postconfDir: null, ct);

    /// <summary>
    /// <c>check</c>; with <paramref name="postfix"/> it goes on to Postfix's side
    /// (<see cref="PostfixCheck"/>, configuration directory <paramref name="postconfDir"/>).
    /// </summary>
    public static async Task<int> CheckAsync(string ini, bool postfix, string? postconfDir, CancellationToken ct)
    {
        using var loggers = Logging.Create(ini);
        var log = loggers.CreateLogger("TcpTableServer");
        try
        {
            var def = ServerConfigLoader.Load(ini, log);
            await using var maps = MapSet.Open(def, loggers);
            var settings = maps.Settings.Select(s => (s.Key, s.Value)).ToList();
            foreach (string warning in KeyOverlap.SharedKeyWarnings(settings))
                Console.Error.WriteLine($"warning: {warning}");
            Console.WriteLine($"{ini}: ok: {maps.Tables.Count} map(s): {string.Join(", ", maps.Tables.Keys)}");
            if (!postfix) return ExitCodes.Found;
            try
            {
                return PostfixCheck.Report(PostfixCheck.Run(def, postconfDir), Console.Out);
            }
            catch (PostfixToolException e)
            {
                Console.Error.WriteLine($"fatal: {e.Message}");
                return ExitCodes.Config;
            }
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"fatal: {e.Message}");
            return ExitCodes.Config;
        }
    }

    private static Task<int> WithMapAsync(string ini, string map, Func<MapSet, ITable, Task<int>> run) =>
        WithMapAndLoggersAsync(ini, map, (maps, _) => run(maps, maps.Tables[map]));

    /// <summary>
    /// Opens map <paramref name="map"/> alone (a bad configuration: "fatal: FILE:LINE: ..." and
    /// exit 78), runs <paramref name="run"/> on it with the loggers, and closes it.
    /// </summary>
    internal static async Task<int> WithMapAndLoggersAsync(string ini, string map, Func<MapSet, ILoggerFactory, Task<int>> run)
    {
        using var loggers = Logging.Create(ini, quiet: false);
        var log = loggers.CreateLogger("TcpTableServer");
        MapSet maps;
        try
        {
            maps = MapSet.Open(ServerConfigLoader.Load(ini, log), loggers, only: map);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"fatal: {e.Message}");
            return ExitCodes.Config;
        }
        await using (maps)
            return await run(maps, loggers);
    }

    private static int UpdateExit(UpdateResult r, string map, string what, string failText)
    {
        switch (r.Status)
        {
            case UpdateStatus.Success: return ExitCodes.Found;
            case UpdateStatus.Fail:
                Console.Error.WriteLine($"{map}: {what}: {failText}");
                return ExitCodes.NotFound;
            default:
                return ErrorExit(r.Status == UpdateStatus.ConfigError, $"{map}: {what}");
        }
    }

    private static int ErrorExit(bool config, string what)
    {
        Console.Error.WriteLine(config ? $"{what}: configuration error" : $"{what}: temporary failure");
        return config ? ExitCodes.Config : ExitCodes.TempFail;
    }

    private static void WriteOctets(string s)
    {
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(Octets.ToBytes(s));
    }
}
