using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Host;

/// <summary>
/// Reloads the configuration (SIGHUP, <c>ExecReload=kill -HUP $MAINPID</c>): re-reads the INI
/// and every .cf and file they name, opens the new maps (unchanged maps are taken over with
/// their L1 and memcached connections; lmdb and other backups are shared through the one
/// <see cref="TableRegistry"/>) and the added listeners first; only when all of that worked
/// it publishes the new maps, then closes the removed listeners (after the answers in flight)
/// and opens listeners that take over an address a removed one held. A configuration that
/// fails changes nothing: the error names file, line and parameter, and the log says which
/// configuration stays active. Reloads run one at a time.
/// </summary>
public sealed class Reloader(
    string ini, LiveMaps maps, ListenerSet listeners, TableRegistry registry, ILoggerFactory loggers,
    ISystemdNotifier? notifier)
{
    private readonly SemaphoreSlim _one = new(1, 1);
    private readonly ILogger _log = loggers.CreateLogger("TcpTableServer");
    private int _generation = 1;

    /// <summary>Successful and failed reloads since start (metrics, tests).</summary>
    public int Succeeded, Failed;

    /// <summary>The active configuration: generation, INI path, a digest of its files, and when it was loaded.</summary>
    public string Active { get; private set; } = "";

    /// <summary>Raised after each reload attempt with its outcome (metrics).</summary>
    public event Action<bool>? Reloaded;

    /// <summary>Names the configuration that serves now (at start).</summary>
    public void Activated(MapSet active)
    {
        Active = Describe(active, _generation);
        _log.LogInformation("configuration active: {Active}", Active);
    }

    /// <summary>Reloads in the background (the signal handler's call).</summary>
    public void Request() => _ = ReloadAsync();

    /// <summary>One reload; true when the new configuration serves.</summary>
    public async Task<bool> ReloadAsync()
    {
        await _one.WaitAsync();
        Notify($"RELOADING=1\nMONOTONIC_USEC={Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1_000_000)}");
        bool ok = false;
        try
        {
            ok = await ApplyAsync();
        }
        catch (Exception e)
        {
            _log.LogError(e, "reload failed: {Message}; still active: {Active}", e.Message, Active);
        }
        finally
        {
            if (ok) Interlocked.Increment(ref Succeeded);
            else Interlocked.Increment(ref Failed);
            Notify("READY=1");
            _one.Release();
            Reloaded?.Invoke(ok);
        }
        return ok;
    }

    private async Task<bool> ApplyAsync()
    {
        _log.LogInformation("reloading {Ini}", ini);
        var current = maps.Current;
        ServerDefinition def;
        List<ListenerPlan> plans, closing;
        MapSet next;
        try
        {
            def = ServerConfigLoader.Load(ini, _log);
            plans = ListenerPlan.Of(def);
            closing = listeners.Open.Except(plans).ToList();
            // refused before any map opens: a refused reload opens no memcached connection or backup
            if (listeners.PassedClosing(closing) is { } held)
            {
                _log.LogError("reload failed: {Message}; nothing changed, still active: {Active}", held, Active);
                return false;
            }
            next = MapSet.Open(def, loggers, registry: registry, previous: current);
        }
        catch (ConfigException e)
        {
            _log.LogError("reload failed: {Message}; nothing changed, still active: {Active}", e.Message, Active);
            return false;
        }
        WarnRestartOnly(current.Definition.Options, def.Options);

        // A listener that takes over the address of one being closed opens after that one has closed.
        var late = plans.Where(p => !listeners.IsOpen(p) && closing.Any(c => c.Name == p.Name)).ToList();
        List<ListenerPlan> opened;
        try
        {
            opened = await listeners.OpenAsync(plans.Except(late), CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or ConfigException)
        {
            await next.DisposeAsync();
            _log.LogError("reload failed: cannot open a listener: {Message}; nothing changed, still active: {Active}", e.Message, Active);
            return false;
        }

        var old = maps.Swap(next);
        await old.DisposeAsync();   // its tables go once the batches holding it are answered
        await listeners.CloseAsync(closing, def.Options.ShutdownTimeout);
        try
        {
            opened.AddRange(await listeners.OpenAsync(late, CancellationToken.None));
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException or ConfigException)
        {
            _log.LogError("reload: a listener that replaces a closed one cannot open: {Message}", e.Message);
        }

        Active = Describe(next, ++_generation);
        var reopened = def.Maps.Select(m => m.Name).Except(next.Reused).ToList();
        _log.LogInformation("reloaded: configuration active: {Active}; maps opened: {Opened}; unchanged: {Unchanged}; listeners opened: {ListenersOpened}; closed: {ListenersClosed}",
            Active, List(reopened), List(next.Reused), List(opened.Select(p => p.Name)), List(closing.Select(p => p.Name)));
        return true;
    }

    /// <summary>[server] options that only a restart applies.</summary>
    private void WarnRestartOnly(ServerOptions was, ServerOptions now)
    {
        if (was.MaxConnections != now.MaxConnections)
            _log.LogWarning("reload: max_connections changed: the process-wide connection limit changes at the next restart");
        if (was.User != now.User)
            _log.LogWarning("reload: user changed: takes effect at the next restart");
    }

    private static string List(IEnumerable<string> items)
    {
        var all = items.ToList();
        return all.Count == 0 ? "none" : string.Join(", ", all);
    }

    private void Notify(string state)
    {
        if (notifier is { IsEnabled: true }) notifier.Notify(new ServiceState(state));
    }

    /// <summary>"generation 2, /etc/tcptableserver/tcptable.ini, digest 3fa1c2d4e5f6, loaded 2026-12-02T14:03:11Z".</summary>
    private static string Describe(MapSet active, int generation)
    {
        var def = active.Definition;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Safe(def.IniPath)));
        foreach (string fingerprint in active.Fingerprints) sha.AppendData(System.Text.Encoding.UTF8.GetBytes(fingerprint));
        string digest = Convert.ToHexString(sha.GetHashAndReset())[..12].ToLowerInvariant();
        return $"generation {generation}, {Path.GetFullPath(def.IniPath)}, digest {digest}, loaded {DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ}";
    }

    private static string Safe(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return path; }
    }
}
