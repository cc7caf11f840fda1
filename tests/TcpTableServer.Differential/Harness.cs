using System.Diagnostics;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>
/// The differential run against Postfix. Per configuration, three sides each with its own fresh
/// memcached and its own copy of the backup: Postfix's memcache: client (`postmap -q -`
/// and the libpostfix driver), our server through Postfix's socketmap: client, and through
/// its tcp: client. Same seeded cache items, same keys, same updates and deletes; then the
/// answers, the update/delete statuses, the final cache items (key, value, flags) and the
/// final backups are compared.
/// </summary>
public sealed class Harness(DiffOptions options, TextWriter progress)
{
    private readonly DiffReport _report = new() { Show = options.Show };

    public static string DefaultConfigDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "TcpTableServer.sln"))) return Path.Combine(d.FullName, "tests", "differential");
        throw new InvalidOperationException("tests/differential not found: pass --config");
    }

    /// <summary>One run with <c>smtputf8_enable</c> = <paramref name="smtputf8"/> in Postfix's main.cf and the server's [server].</summary>
    public async Task<DiffReport> RunAsync(bool smtputf8)
    {
        _report.Smtputf8 = smtputf8;
        if (!Postfix.Installed) throw new InvalidOperationException("postmap is not installed: run scripts/install-deps");
        if (!PostfixDictDriver.Available) throw new InvalidOperationException("libpostfix-util/global not found in /usr/lib/postfix");
        var paths = options.Configs.Count > 0 ? options.Configs : [.. Directory.GetFiles(DefaultConfigDir(), "*.cf").Order(StringComparer.Ordinal)];
        var templates = paths.Select(p => new CfTemplate(p)).ToList();
        var backupKeys = templates.SelectMany(t => t.BackupSourceKeys()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var corpus = new DifferentialCorpus(options.Seed, backupKeys).Take(options.Keys);
        _report.Keys = corpus.Count;
        var work = new TempDir();
        try
        {
            var postfix = new Postfix(work.Path, smtputf8);
            foreach (var t in templates)
            {
                var sw = Stopwatch.StartNew();
                int before = _report.Differences;
                var run = new ConfigRun(t, corpus, work[t.Name], postfix, options, _report, smtputf8);
                await run.RunAsync();
                _report.Configurations.Add(t.Name);
                progress.WriteLine($"{t.Name}: {corpus.Count} keys, {_report.Differences - before} differences ({sw.Elapsed.TotalSeconds:F1} s: {run.Timing})");
            }
        }
        finally
        {
            if (options.Keep) _report.WorkDir = work.Path;
            else work.Dispose();
        }
        return _report;
    }
}
