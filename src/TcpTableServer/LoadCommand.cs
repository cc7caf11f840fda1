using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer.Host;

/// <summary>
/// <c>load [--warm] [--skip-bad] MAP FILE</c>: bulk-loads a postmap(1) source file into the
/// map's lmdb backup and, with <c>--warm</c>, into memcached with the map's ttl and flags.
/// <list type="bullet">
/// <item>The file is read as postmap reads it (<see cref="PostmapSource"/>), and each key takes the
/// path of a <c>put</c> of the same key (<see cref="BulkLoader"/>), so <c>query</c> finds it.</item>
/// <item>The whole file is checked before anything is written: a bad line (no value, unbalanced
/// quote, non-UTF-8 text in UTF-8 mode, a key the map's key preparation skips, a key too long
/// for LMDB) stops the load with <c>FILE:LINE: reason</c> and exit 65 (EX_DATAERR: the data is
/// wrong, not the configuration); <c>--skip-bad</c> loads the other lines and lists the bad ones.</item>
/// <item>A key given twice: the first line wins, the others are warned about (as postmap).</item>
/// <item>Entries are written in batches of <see cref="BatchSize"/>, each batch one LMDB transaction
/// (then its memcached sets): per-batch atomic. Every write replaces, so after an interruption
/// or a failure (exit 75) running the same load again completes it with the same result.</item>
/// <item>On a terminal (standard error not redirected) a progress bar; the summary line goes to
/// standard output.</item>
/// </list>
/// </summary>
public static class LoadCommand
{
    /// <summary>Entries per LMDB transaction (one commit, one fdatasync each).</summary>
    public const int BatchSize = 5000;

    /// <summary>Bad lines named in a message; the rest are counted.</summary>
    private const int ListedProblems = 10;

    public static Task<int> RunAsync(string ini, string map, string file, bool warm, bool skipBad, CancellationToken ct) =>
        CliCommands.WithMapAndLoggersAsync(ini, map, async (maps, loggers) =>
        {
            BulkLoader loader;
            try
            {
                loader = BulkLoader.Create(map, maps.Settings[map], warm, loggers);
            }
            catch (ConfigException e)
            {
                Console.Error.WriteLine($"load: {e.Message}");
                return ExitCodes.Config;
            }
            await using (loader)
                return await LoadAsync(loader, maps.Settings[map], map, file, skipBad, loggers.CreateLogger("load"), ct);
        });

    private static async Task<int> LoadAsync(BulkLoader loader, MemcacheSettings settings, string map, string file,
        bool skipBad, ILogger log, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        string text;
        try
        {
            text = Octets.FromBytes(await File.ReadAllBytesAsync(file, ct));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"load: cannot read {file}: {e.Message}");
            return ExitCodes.NoInput;
        }

        // Pass 1: every line checked and prepared; nothing is written yet.
        var entries = new List<LoadEntry>();
        var bad = new List<string>();
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        int duplicates = 0;
        bool toBackup = loader.Target is not null;   // entries are told apart by the key the backup stores, else memcached's
        foreach (var s in PostmapSource.Read(text, file, log, settings.Smtputf8Enable))
        {
            if (s.IsBad)
            {
                bad.Add($"{file}:{s.LineNumber}: {s.Problem}");
                continue;
            }
            var p = await loader.PrepareAsync(s.Key, s.Value, s.LineNumber, ct);
            if (p.IsError)
            {
                Console.Error.WriteLine($"{file}:{s.LineNumber}: key \"{Octets.ToDisplay(s.Key)}\": the map's domain list failed: " +
                    (p.Error == ErrorClass.Config ? "configuration error" : "temporary failure") + "; nothing written");
                return p.Error == ErrorClass.Config ? ExitCodes.Config : ExitCodes.TempFail;
            }
            if (p.IsBad)
            {
                bad.Add($"{file}:{s.LineNumber}: {p.Problem}");
                continue;
            }
            // The same stored key twice: the first line wins, as postmap (DICT_FLAG_DUP_WARN).
            string stored = toBackup ? Octets.FoldAscii(p.Entry.BackupKey) : p.Entry.MemcacheKey;
            if (firstLine.TryGetValue(stored, out int first))
            {
                if (++duplicates <= ListedProblems)
                    Console.Error.WriteLine($"{file}:{s.LineNumber}: duplicate entry \"{Octets.ToDisplay(s.Key)}\" (first at line {first}) -- ignoring this line");
                continue;
            }
            firstLine[stored] = s.LineNumber;
            entries.Add(p.Entry);
        }
        if (duplicates > ListedProblems)
            Console.Error.WriteLine($"{file}: {duplicates - ListedProblems} more duplicate entries ignored");
        if (bad.Count > 0 && !skipBad)
        {
            foreach (var b in bad.Take(ListedProblems)) Console.Error.WriteLine(b);
            if (bad.Count > ListedProblems) Console.Error.WriteLine($"{file}: {bad.Count - ListedProblems} more bad lines");
            Console.Error.WriteLine($"load: {map}: {bad.Count} bad line(s) in {file}; nothing written (--skip-bad loads the other lines)");
            return ExitCodes.DataErr;
        }

        // Pass 2: one transaction per batch, then its memcached sets.
        var bar = Console.IsErrorRedirected ? null : new ProgressBar(map, entries.Count);
        int written = 0, warmed = 0, notWarmed = 0;
        for (int start = 0; start < entries.Count; start += BatchSize)
        {
            var batch = entries.GetRange(start, Math.Min(BatchSize, entries.Count - start));
            string lines = $"lines {batch[0].LineNumber}-{batch[^1].LineNumber} of {file}";
            if (ct.IsCancellationRequested)
                return Stopped(bar, $"load: {map}: interrupted before {lines}", written, ExitCodes.TempFail);
            var r = await loader.WriteAsync(batch, CancellationToken.None);   // a started batch is finished
            if (r.Backup.Status != UpdateStatus.Success)
                return Stopped(bar, $"load: {map}: writing {lines} into {loader.Target} failed ({Describe(r.Backup)}); that batch was not written",
                    written, r.Backup.Status == UpdateStatus.ConfigError ? ExitCodes.Config : ExitCodes.TempFail);
            warmed += r.Warmed;
            notWarmed += r.NotWarmed;
            if (r.Memcached.Status != UpdateStatus.Success)
                return Stopped(bar, $"load: {map}: warming memcached with {lines} failed ({Describe(r.Memcached)}); the backup has them",
                    written + batch.Count, ExitCodes.TempFail);
            written += batch.Count;
            bar?.Show(written);
        }
        bar?.Clear();

        Console.WriteLine(Summary(map, file, loader, entries.Count, warmed, notWarmed, duplicates, bad, clock.Elapsed));
        return ExitCodes.Found;
    }

    private static int Stopped(ProgressBar? bar, string message, int written, int exit)
    {
        bar?.Clear();
        Console.Error.WriteLine($"{message}; {written} entries were written before; running the same load again completes it");
        return exit;
    }

    private static string Describe(UpdateResult r) => r.Status switch
    {
        UpdateStatus.ConfigError => "configuration error",
        UpdateStatus.Fail => "not updated",
        _ => "temporary failure",
    };

    /// <summary>"load: MAP: N entries from FILE into lmdb:/path (memcached warmed: N) in T s[; ...]".</summary>
    internal static string Summary(string map, string file, BulkLoader loader, int entries, int warmed, int notWarmed,
        int duplicates, IReadOnlyList<string> bad, TimeSpan elapsed)
    {
        string into = loader.Target is { } target ? $"into {target}" : "into memcached only";
        string warm = loader.Warms
            ? $" (memcached warmed: {warmed}{(notWarmed > 0 ? $", not warmed: {notWarmed} over memcached's key or data_size_limit" : "")})"
            : "";
        string line = $"load: {map}: {entries} entries from {file} {into}{warm} in " +
                      elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
        if (duplicates > 0) line += $"; {duplicates} duplicate(s) ignored";
        if (bad.Count > 0)
            line += $"; {bad.Count} bad line(s) skipped: {string.Join("; ", bad.Take(3))}{(bad.Count > 3 ? "; ..." : "")}";
        return line;
    }

    /// <summary>A one-line bar on standard error (a terminal), redrawn per batch.</summary>
    private sealed class ProgressBar(string map, int total)
    {
        private const int Width = 30;

        public void Show(int done)
        {
            int filled = total == 0 ? Width : (int)((long)done * Width / total);
            int percent = total == 0 ? 100 : (int)((long)done * 100 / total);
            Console.Error.Write($"\rload: {map}: [{new string('#', filled)}{new string('.', Width - filled)}] {percent,3}% {done}/{total}");
        }

        public void Clear() => Console.Error.Write("\r\x1b[K");
    }
}
