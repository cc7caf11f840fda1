using System.Net;
using System.Net.Sockets;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Memcache;

namespace TcpTableServer.Metrics;

/// <summary>
/// <c>GET /health</c>: whether every map of the current configuration can answer. A map can
/// when its memcached answers <c>version</c> (a fresh TCP or UNIX connection, not one of the
/// map's pooled ones, so a probe never queues behind lookups), or else when its backup table
/// answers a lookup of <see cref="ProbeKey"/> without an error (spec 3.4: a memcached error
/// falls through to the backup, so such a map still answers). Maps are probed in parallel,
/// each within <see cref="Timeout"/>.
/// </summary>
public sealed class HealthProbe(LiveMaps maps)
{
    /// <summary>The key looked up in a backup table (any answer but an error will do).</summary>
    public const string ProbeKey = "tcptable-health-probe";

    /// <summary>How long a probe of one memcached or backup may take.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    /// <summary>The maps that cannot answer now, each with why ("aliases: memcached inet:127.0.0.1:11211: connection refused; no backup").</summary>
    public async Task<List<string>> FailingAsync(CancellationToken ct = default)
    {
        var set = maps.Acquire();   // leased: a reload must not close a backup while it is probed
        try
        {
            var checks = set.Settings.Select(m => CheckAsync(m.Key, m.Value, ct)).ToList();
            var failing = new List<string>();
            foreach (var reason in await Task.WhenAll(checks).ConfigureAwait(false))
                if (reason is not null) failing.Add(reason);
            return failing;
        }
        finally
        {
            set.Release();
        }
    }

    /// <summary>Null when the map can answer, else the reason it cannot.</summary>
    private async Task<string?> CheckAsync(string map, MemcacheSettings settings, CancellationToken ct)
    {
        // several nodes (memcache_nodes): each must answer, else its keys need the backup
        var nodes = settings.Servers;
        var replies = await Task.WhenAll(nodes.Select(n => VersionAsync(n, ct))).ConfigureAwait(false);
        int down = Array.FindIndex(replies, r => r is not null);
        if (down < 0) return null;
        string? memcached = replies[down];
        var endpoint = nodes[down];
        if (settings.Backup is not { } backup) return $"{map}: memcached {endpoint}: {memcached}; no backup";
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(Timeout);
            var answer = await backup.LookupAsync(ProbeKey, cts.Token).AsTask().WaitAsync(Timeout, ct).ConfigureAwait(false);
            if (!answer.IsError) return null;
            return $"{map}: memcached {endpoint}: {memcached}; backup {backup.Name}: {answer.Status}";
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // a backup that throws cannot answer either: reported, never a 500
            return $"{map}: memcached {endpoint}: {memcached}; backup {backup.Name}: {e.Message}";
        }
    }

    /// <summary>Null when memcached at <paramref name="endpoint"/> answers "version" in time, else what went wrong.</summary>
    private async Task<string?> VersionAsync(EndpointSpec endpoint, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(Timeout);
        try
        {
            // as the memcached client connects: a UNIX socket, or each resolved address in turn
            using var socket = await MemcachedConnection.ConnectAsync(endpoint, null, cts.Token).ConfigureAwait(false);
            await socket.SendAsync("version\r\n"u8.ToArray(), SocketFlags.None, cts.Token).ConfigureAwait(false);
            var buffer = new byte[256];
            int got = 0;
            while (got < buffer.Length)
            {
                int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 0) return "connection closed before a reply";
                got += n;
                if (buffer.AsSpan(0, got).IndexOf("\r\n"u8) >= 0) break;
            }
            string reply = Encoding.ASCII.GetString(buffer, 0, got).TrimEnd();
            return reply.StartsWith("VERSION ", StringComparison.Ordinal) ? null : $"unexpected reply \"{reply}\"";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no reply within {Timeout.TotalSeconds:0.###} s";
        }
        catch (SocketException e)
        {
            return e.Message;
        }
    }
}
