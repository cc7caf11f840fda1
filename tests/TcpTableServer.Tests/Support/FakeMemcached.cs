using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// A scripted loopback memcached for fault injection (spec 7.1): records every byte it
/// receives per connection (<c>conn1</c>, <c>conn2</c>, ...) and answers each complete
/// command with the next injected reply (raw bytes, or <see cref="CloseConnection"/> to
/// close without replying). When the script is exhausted it behaves like a small
/// memcached 1.6: get/set/delete on an in-memory store, <c>CLIENT_ERROR bad command line
/// format</c> for keys over 250 bytes or with control characters and for negative flags,
/// ttl semantics of memcached (0 = never, &gt; 30 days = absolute Unix time, &lt; 0 = expired).
/// </summary>
public sealed class FakeMemcached : IAsyncDisposable
{
    /// <summary>Injected reply: close the connection without replying.</summary>
    public const string CloseConnection = "<close connection>";

    /// <summary>Injected reply: swallow the command and never answer (for timeouts).</summary>
    public const string NoReply = "<no reply>";

    private const string ClientError = "CLIENT_ERROR bad command line format\r\n";

    private sealed record Item(string Value, int Flags, DateTimeOffset? Expires);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Queue<string> _script = new();
    private readonly Dictionary<string, Item> _store = new(StringComparer.Ordinal);
    private readonly List<MemoryStream> _received = [];
    private readonly Dictionary<MemoryStream, long> _resetMarks = [];
    private List<MemoryStream>? _usedSinceReset;
    private long _firstArrival, _lastArrival;       // Stopwatch timestamps of the first and last read since Reset (0: none)
    private readonly List<Task> _tasks = [];
    private readonly List<TcpClient> _clients = [];
    private readonly Task _acceptLoop;
    private TaskCompletionSource _replies = Released();

    public int Port { get; }
    public string Endpoint => $"inet:127.0.0.1:{Port}";

    public FakeMemcached()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>
    /// A slow memcached: each command is answered this long after it arrived or after the
    /// previous reply on its connection, whichever is later (one command at a time per
    /// connection, connections in parallel, as memcached's worker threads). Zero: at once.
    /// </summary>
    public TimeSpan ReplyDelay { get; set; }

    /// <summary>Replies used instead of normal processing, one per command, in order (octet strings).</summary>
    public void Inject(params string[] replies)
    {
        lock (_script) foreach (var r in replies) _script.Enqueue(r);
    }

    /// <summary>
    /// Holds every reply (commands are still received and recorded) until the returned
    /// handle is disposed, as a memcached busy with the first commands of a batch.
    /// </summary>
    public IDisposable HoldReplies()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _replies, gate);
        return new Release(gate);
    }

    private static TaskCompletionSource Released()
    {
        var done = new TaskCompletionSource();
        done.SetResult();
        return done;
    }

    private sealed class Release(TaskCompletionSource gate) : IDisposable
    {
        public void Dispose() => gate.TrySetResult();
    }

    /// <summary>Stores an item as if a client had sent <c>set</c> (ttl 0).</summary>
    public void Seed(string key, string value, int flags = 0)
    {
        lock (_store) _store[key] = new Item(value, flags, null);
    }

    /// <summary>The stored (unexpired) item, or null.</summary>
    public (string Value, int Flags)? Get(string key)
    {
        lock (_store) return Lookup(key) is { } i ? (i.Value, i.Flags) : null;
    }

    /// <summary>
    /// Bytes received on each connection so far (Latin-1), in order of connection; after a
    /// <see cref="Reset"/>, only the bytes received since then, on the connections that
    /// received any, in order of first use since the reset (a pooled client's reused
    /// connection counts as <c>conn1</c> when it is the first one used).
    /// </summary>
    public IReadOnlyList<string> Connections
    {
        get
        {
            lock (_received)
            {
                if (_usedSinceReset is null)
                    return [.. _received.Select(m => { lock (m) return Encoding.Latin1.GetString(m.ToArray()); })];
                return [.. _usedSinceReset.Select(m =>
                {
                    lock (m) return Encoding.Latin1.GetString(m.ToArray().AsSpan((int)_resetMarks.GetValueOrDefault(m)));
                })];
            }
        }
    }

    /// <summary>
    /// Time from the first to the last bytes received since <see cref="Reset"/> (null: none):
    /// the server's pauses between memcached attempts, without its client's start-up or
    /// anything after the last command.
    /// </summary>
    public TimeSpan? TrafficSpan
    {
        get
        {
            lock (_received) return _firstArrival == 0 ? null : Stopwatch.GetElapsedTime(_firstArrival, _lastArrival);
        }
    }

    /// <summary>
    /// Forgets the seeded items, the injected replies not used yet and the traffic recorded
    /// so far, keeping the listener and the open connections (for one long-lived client, such
    /// as a server process with a connection pool, shared by many tests).
    /// </summary>
    public void Reset()
    {
        lock (_script) _script.Clear();
        lock (_store) _store.Clear();
        lock (_received)
        {
            foreach (var m in _received) lock (m) _resetMarks[m] = m.Length;
            _usedSinceReset = [];
            _firstArrival = _lastArrival = 0;
        }
    }

    /// <summary>Closes every open connection (as a memcached restart would), keeping the listener.</summary>
    public void DropConnections()
    {
        lock (_clients)
        {
            foreach (var c in _clients) c.Dispose();
            _clients.Clear();
        }
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_clients) _clients.Add(client);
                var log = new MemoryStream();
                lock (_received) _received.Add(log);
                lock (_tasks) _tasks.Add(ServeAsync(client, log));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException) { }
    }

    private async Task ServeAsync(TcpClient client, MemoryStream log)
    {
        using var _ = client;
        var stream = client.GetStream();
        var pending = new List<byte>();
        var chunk = new byte[65536];
        var writes = Task.CompletedTask;   // replies held back by HoldReplies or ReplyDelay, written in order
        long lastDue = 0;                  // Stopwatch timestamp when the previous reply is due (ReplyDelay)
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(chunk, _stop.Token);
                if (n == 0) return;
                lock (_received)
                {
                    if (_usedSinceReset is not null && !_usedSinceReset.Contains(log)) _usedSinceReset.Add(log);
                    lock (log) log.Write(chunk, 0, n);
                    _lastArrival = Stopwatch.GetTimestamp();
                    if (_firstArrival == 0) _firstArrival = _lastArrival;
                }
                pending.AddRange(chunk.AsSpan(0, n));
                while (TakeCommand(pending) is { } command)
                {
                    string? reply;
                    lock (_script) reply = _script.Count > 0 ? _script.Dequeue() : null;
                    reply ??= Execute(command.Line, command.Data);
                    if (reply == CloseConnection)
                    {
                        await writes;
                        return;
                    }
                    if (reply == NoReply) continue;
                    var bytes = Encoding.Latin1.GetBytes(reply);
                    var gate = Volatile.Read(ref _replies).Task;
                    if (ReplyDelay > TimeSpan.Zero)
                    {
                        long now = Stopwatch.GetTimestamp();
                        lastDue = Math.Max(now, lastDue) + (long)(ReplyDelay.TotalSeconds * Stopwatch.Frequency);
                        var wait = Task.Delay(Stopwatch.GetElapsedTime(now, lastDue), _stop.Token);
                        gate = Task.WhenAll(gate, wait);
                    }
                    if (gate.IsCompleted && writes.IsCompleted) await stream.WriteAsync(bytes, _stop.Token);
                    else writes = WriteLaterAsync(writes, gate, stream, bytes);   // keep reading meanwhile
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { }
    }

    private async Task WriteLaterAsync(Task previous, Task gate, NetworkStream stream, byte[] reply)
    {
        try
        {
            await previous;
            await gate.WaitAsync(_stop.Token);
            await stream.WriteAsync(reply, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException) { }
    }

    /// <summary>A complete command (line, and the data block of a <c>set</c>) or null.</summary>
    private static (string Line, string? Data)? TakeCommand(List<byte> pending)
    {
        int lf = pending.IndexOf((byte)'\n');
        if (lf < 0) return null;
        string line = Encoding.Latin1.GetString(pending.GetRange(0, lf).ToArray()).TrimEnd('\r');
        int consumed = lf + 1;
        string? data = null;
        var words = line.Split(' ');
        if (words[0] == "set" && words.Length >= 5 && int.TryParse(words[4], out int len) && len >= 0)
        {
            if (pending.Count < consumed + len + 2) return null;
            data = Encoding.Latin1.GetString(pending.GetRange(consumed, len).ToArray());
            consumed += len + 2;
        }
        pending.RemoveRange(0, consumed);
        return (line, data);
    }

    private string Execute(string line, string? data)
    {
        var w = line.Split(' ');
        if (w.Length >= 2 && !ValidKey(w[1])) return ClientError;
        lock (_store)
        {
            switch (w[0])
            {
                case "get" when w.Length >= 2:
                    var sb = new StringBuilder();
                    foreach (var key in w.Skip(1))
                        if (Lookup(key) is { } item)
                            sb.Append($"VALUE {key} {item.Flags} {item.Value.Length}\r\n{item.Value}\r\n");
                    return sb.Append("END\r\n").ToString();
                case "set" when w.Length == 5 && data is not null:
                    if (!int.TryParse(w[2], out int flags) || flags < 0 || !long.TryParse(w[3], out long ttl))
                        return ClientError;
                    _store[w[1]] = new Item(data, flags, Expiry(ttl));
                    return "STORED\r\n";
                case "delete" when w.Length == 2:
                    bool had = Lookup(w[1]) is not null;
                    _store.Remove(w[1]);
                    return had ? "DELETED\r\n" : "NOT_FOUND\r\n";
                default:
                    return "ERROR\r\n";
            }
        }
    }

    private Item? Lookup(string key)
    {
        if (!_store.TryGetValue(key, out var item)) return null;
        if (item.Expires is { } e && e <= DateTimeOffset.UtcNow)
        {
            _store.Remove(key);
            return null;
        }
        return item;
    }

    private static DateTimeOffset? Expiry(long ttl) => ttl switch
    {
        0 => null,
        < 0 => DateTimeOffset.MinValue,
        > 2592000 => DateTimeOffset.FromUnixTimeSeconds(ttl),
        _ => DateTimeOffset.UtcNow.AddSeconds(ttl),
    };

    private static bool ValidKey(string key) => key.Length <= 250 && key.All(c => c > ' ' && c != '\x7f');

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        Task[] tasks;
        lock (_tasks) tasks = [.. _tasks];
        await Task.WhenAll(tasks);
        _stop.Dispose();
    }
}
