using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// The memcached client of a memcache table (spec 3.8, 3.9): <c>get</c>/<c>set</c>/
/// <c>delete</c> in the text protocol with Postfix's attempt loop (max_try, retry_pause,
/// timeout) and warnings (3.10). Connections are persistent and pooled; each command uses
/// one connection exclusively from command to complete reply. Failures are results
/// (<see cref="LookupStatus.TempError"/>), never exceptions; only cancellation throws.
/// </summary>
public sealed class MemcachedClient : IAsyncDisposable
{
    private const int MaxIdle = 8;

    private enum Verdict : byte { Done, DoneThenClose, Failed }

    private readonly record struct Attempt<T>(Verdict Verdict, T Result, string? Warning = null);

    private delegate ValueTask<Attempt<T>> ReplyReader<T>(MemcachedConnection connection, IoTimer timer);

    private readonly EndpointSpec _endpoint;
    private readonly int _flags, _ttl, _dataSizeLimit, _lineSizeLimit, _maxTry;
    private readonly TimeSpan _retryPause;
    private readonly TimeSpan? _timeout;
    private readonly string _tableName, _dictName;
    private readonly ILogger _logger;
    private readonly Stack<MemcachedConnection> _idle = new();
    private readonly ReplyReader<LookupResult> _readGet;
    private readonly ReplyReader<UpdateResult> _readSet, _readDelete;
    private bool _disposed;

    /// <param name="settings">the table's parameters (endpoint, flags, ttl, limits, retries)</param>
    /// <param name="tableName">"memcache:name", used in warnings as Postfix's "database memcache:name"</param>
    /// <param name="logger">receives the warnings of spec 3.10</param>
    public MemcachedClient(MemcacheSettings settings, string tableName, ILogger logger)
    {
        _endpoint = settings.Memcache;
        _flags = settings.Flags;
        _ttl = settings.Ttl;
        _dataSizeLimit = settings.DataSizeLimit;
        _lineSizeLimit = settings.LineSizeLimit;
        _maxTry = settings.MaxTry;
        _retryPause = TimeSpan.FromSeconds(settings.RetryPause);
        _timeout = settings.Timeout > 0 ? TimeSpan.FromSeconds(settings.Timeout) : null;
        _tableName = tableName;
        _dictName = tableName.StartsWith("memcache:", StringComparison.Ordinal) ? tableName[9..] : tableName;
        _logger = logger;
        _readGet = ReadGetReplyAsync;
        _readSet = ReadSetReplyAsync;
        _readDelete = ReadDeleteReplyAsync;
    }

    /// <summary><c>get &lt;key&gt;</c>: Found (value cut at the first NUL), NotFound, or TempError.</summary>
    public ValueTask<LookupResult> GetAsync(string key, CancellationToken ct = default) =>
        RunAsync(Octets.ToBytes($"get {key}\r\n"), _readGet, LookupResult.TempError, ct);

    /// <summary>
    /// <c>set &lt;key&gt; &lt;flags&gt; &lt;ttl&gt; &lt;len&gt;</c>: Success, Fail (value longer
    /// than data_size_limit: nothing sent, warning), or TempError.
    /// </summary>
    public ValueTask<UpdateResult> SetAsync(string key, string value, CancellationToken ct = default)
    {
        if (value.Length > _dataSizeLimit)
        {
            _logger.LogWarning("database {Table}: data for key {Key} is too long ({Parameter}={Limit}) -- not stored",
                _tableName, Octets.ToDisplay(key), "data_size_limit", _dataSizeLimit);
            return ValueTask.FromResult(UpdateResult.Fail);
        }
        var command = Octets.ToBytes($"set {key} {_flags} {_ttl} {value.Length}\r\n{value}\r\n");
        return RunAsync(command, _readSet, UpdateResult.TempError, ct);
    }

    /// <summary><c>delete &lt;key&gt;</c>: Success (DELETED), Fail (NOT_FOUND), or TempError.</summary>
    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        RunAsync(Octets.ToBytes($"delete {key}\r\n"), _readDelete, UpdateResult.TempError, ct);

    /// <summary>The attempt loop of spec 3.9.</summary>
    private async ValueTask<T> RunAsync<T>(byte[] command, ReplyReader<T> readReply, T error, CancellationToken ct)
    {
        for (int attempt = 1; attempt <= _maxTry; attempt++)
        {
            if (attempt > 1) await Task.Delay(_retryPause, ct).ConfigureAwait(false);
            var connection = await AcquireAsync(ct).ConfigureAwait(false);
            if (connection is null) break;

            Attempt<T> outcome;
            using (var timer = new IoTimer(_timeout, ct))
            {
                try
                {
                    await connection.SendAsync(command, timer).ConfigureAwait(false);
                    outcome = await readReply(connection, timer).ConfigureAwait(false);
                }
                catch (Exception e) when (IsIoFailure(e) && !ct.IsCancellationRequested)
                {
                    outcome = new Attempt<T>(Verdict.Failed, error, IoError);
                }
                catch
                {
                    connection.Dispose();
                    throw;
                }
            }

            if (outcome.Verdict == Verdict.Done)
            {
                Release(connection);
                return outcome.Result;
            }
            connection.Dispose();
            if (outcome.Verdict == Verdict.DoneThenClose) return outcome.Result;
            if (attempt > 1) _logger.LogWarning("{Warning}", outcome.Warning);
        }
        return error;
    }

    private string IoError => $"database {_tableName}: I/O error";

    private static bool IsIoFailure(Exception e) =>
        e is SocketException or IOException or OperationCanceledException or ObjectDisposedException;

    private async ValueTask<Attempt<LookupResult>> ReadGetReplyAsync(MemcachedConnection c, IoTimer timer)
    {
        var line = await c.ReadLineAsync(_lineSizeLimit, timer).ConfigureAwait(false);
        if (line is null) return new(Verdict.Failed, LookupResult.TempError, IoError);
        if (line == "END") return new(Verdict.Done, LookupResult.NotFound);
        if (!TryScanValueLine(line, out long length) || length < 0 || length > _dataSizeLimit)
            return new(Verdict.Failed, LookupResult.TempError,
                $"{_dictName}: unexpected memcache server reply: {Octets.ToDisplay(Truncate(line, 30))}");
        var data = await c.ReadBlockAsync((int)length, timer).ConfigureAwait(false);
        if (data is null)
            return new(Verdict.Failed, LookupResult.TempError, $"{_dictName}: EOF receiving memcache server reply");

        int nul = Array.IndexOf(data, (byte)0);
        var found = LookupResult.Found(Octets.FromBytes(nul < 0 ? data : data.AsSpan(0, nul)));
        string? end;
        try { end = await c.ReadLineAsync(_lineSizeLimit, timer).ConfigureAwait(false); }
        catch (Exception e) when (IsIoFailure(e)) { end = null; }
        return new(end == "END" ? Verdict.Done : Verdict.DoneThenClose, found);
    }

    private async ValueTask<Attempt<UpdateResult>> ReadSetReplyAsync(MemcachedConnection c, IoTimer timer)
    {
        var line = await c.ReadLineAsync(_lineSizeLimit, timer).ConfigureAwait(false);
        if (line is null) return new(Verdict.Failed, UpdateResult.TempError, IoError);
        if (line == "STORED") return new(Verdict.Done, UpdateResult.Success);
        return new(Verdict.Failed, UpdateResult.TempError,
            $"database {_tableName}: update failed: {Octets.ToDisplay(Truncate(line, 100))}");
    }

    private async ValueTask<Attempt<UpdateResult>> ReadDeleteReplyAsync(MemcachedConnection c, IoTimer timer)
    {
        var line = await c.ReadLineAsync(_lineSizeLimit, timer).ConfigureAwait(false);
        if (line is null) return new(Verdict.Failed, UpdateResult.TempError, IoError);
        if (line == "DELETED") return new(Verdict.Done, UpdateResult.Success);
        if (line == "NOT_FOUND") return new(Verdict.Done, UpdateResult.Fail);
        return new(Verdict.Failed, UpdateResult.TempError,
            $"database {_tableName}: delete failed: {Octets.ToDisplay(Truncate(line, 30))}");
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    /// <summary>
    /// <c>sscanf(line, "VALUE %*s %*s %ld", &amp;n) == 1</c>: literal "VALUE", two
    /// whitespace-separated tokens (not checked), then a signed decimal; the rest is ignored.
    /// </summary>
    internal static bool TryScanValueLine(string line, out long length)
    {
        length = 0;
        if (!line.StartsWith("VALUE", StringComparison.Ordinal)) return false;
        int i = 5;
        for (int token = 0; token < 2; token++)
        {
            SkipSpace(line, ref i);
            int start = i;
            while (i < line.Length && !IsSpace(line[i])) i++;
            if (i == start) return false;
        }
        SkipSpace(line, ref i);
        bool negative = false;
        if (i < line.Length && line[i] is '+' or '-') negative = line[i++] == '-';
        int digits = i;
        long n = 0;
        for (; i < line.Length && line[i] is >= '0' and <= '9'; i++)
            n = n > (long.MaxValue - 9) / 10 ? long.MaxValue : n * 10 + (line[i] - '0');
        if (i == digits) return false;
        length = negative ? -n : n;
        return true;
    }

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private static void SkipSpace(string s, ref int i)
    {
        while (i < s.Length && IsSpace(s[i])) i++;
    }

    /// <summary>An idle pooled connection that passes the EOF check, else a new one (null: connect failed, warned).</summary>
    private async ValueTask<MemcachedConnection?> AcquireAsync(CancellationToken ct)
    {
        while (true)
        {
            MemcachedConnection? idle;
            lock (_idle) idle = _idle.Count > 0 ? _idle.Pop() : null;
            if (idle is null) break;
            if (idle.IsReusable) return idle;
            idle.Dispose();
        }
        try
        {
            return await MemcachedConnection.ConnectAsync(_endpoint, _timeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (IsIoFailure(e) && !ct.IsCancellationRequested)
        {
            string reason = e is OperationCanceledException ? "Connection timed out" : e.Message;
            _logger.LogWarning("connect to {Endpoint}: {Reason}", _endpoint.Display, reason);
            return null;
        }
    }

    private void Release(MemcachedConnection connection)
    {
        lock (_idle)
        {
            if (!_disposed && _idle.Count < MaxIdle)
            {
                _idle.Push(connection);
                return;
            }
        }
        connection.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        lock (_idle)
        {
            _disposed = true;
            while (_idle.Count > 0) _idle.Pop().Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
