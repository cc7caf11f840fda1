using System.Diagnostics;
using System.Text;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>Which memcached a vector runs against.</summary>
public enum Backend
{
    /// <summary><see cref="FakeMemcached"/>: exact traffic per connection is asserted.</summary>
    Fake,
    /// <summary>The real memcached (<see cref="MemcachedProcess"/>): cache contents, flags and ttl are asserted.</summary>
    Real,
}

/// <summary>
/// One test's world for the vectors of spec 7.3: a memcached (fake or real), the
/// "backup" fixed-key table, the failing tables, and the configurations of 7.2 opened as
/// <c>/etc/postfix/&lt;socketmap name&gt;.cf</c> so that warnings read exactly as in the spec.
/// </summary>
internal sealed class VectorRig : IAsyncDisposable
{
    private static IReadOnlyDictionary<string, (string Name, string[] Lines)> Configs => SpecConfigurations.All;

    private const string BackupSpec = "texthash:/etc/postfix/backup";
    private const string FailingBackupSpec = "fail:backup";

    private readonly FakeMemcached? _fake;
    private readonly MemcachedProcess? _real;
    private readonly List<MemcacheTable> _opened = [];
    private readonly Stopwatch _clock = new();

    public Backend Backend { get; }
    public FixedKeyTable Backup { get; } = new(BackupSpec);
    public FailingTable FailingBackup { get; } = new(FailingBackupSpec);
    public TestTableFactory Tables { get; } = new();
    public ListLogger Logs { get; } = new();

    /// <summary>"127.0.0.1:port" of a port with nothing listening (the spec's 11299).</summary>
    public string Down { get; } = $"127.0.0.1:{FreePort.Closed()}";

    public VectorRig(Backend backend)
    {
        Backend = backend;
        if (backend == Backend.Fake) _fake = new FakeMemcached();
        else _real = MemcachedProcess.Start();
        Tables.Registered[BackupSpec] = Backup;
        Tables.Registered[FailingBackupSpec] = FailingBackup;
    }

    public FakeMemcached Fake => _fake ?? throw new InvalidOperationException("fake memcached only");

    private string Endpoint => _fake?.Endpoint ?? _real!.Endpoint;

    /// <summary>
    /// Opens configuration <paramref name="id"/> of spec 7.2 (plus extra lines) as a
    /// MemcacheTable. Every warning is logged as Postfix logs it (<c>warning_interval = 0</c>)
    /// unless an extra line sets <c>warning_interval</c>: the vectors are Postfix's log lines,
    /// the rate limit has tests of its own.
    /// </summary>
    public MemcacheTable Open(string id, params string[] extra)
    {
        var (name, lines) = Configs[id];
        if (!extra.Any(l => l.StartsWith("warning_interval", StringComparison.Ordinal)))
            extra = ["warning_interval = 0", .. extra];
        var resolved = lines.Concat(extra).Select(l => l
            .Replace("{mc}", Endpoint).Replace("{down}", "inet:" + Down)
            .Replace("{backup}", BackupSpec)).ToArray();
        var table = MemcacheTable.Open($"/etc/postfix/{name}.cf", Cf.Params(resolved), Tables, "/etc/postfix", Logs);
        _opened.Add(table);
        _clock.Restart();
        return table;
    }

    /// <summary>Time since the table was opened (for retry_pause timing).</summary>
    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>"memcached before": stores an item (octet strings).</summary>
    public void Seed(string key, string value, int flags = 0)
    {
        if (_fake is not null) _fake.Seed(key, value, flags);
        else _real!.Set(key, value, flags);
    }

    /// <summary>The item memcached holds now, or null.</summary>
    public (string Value, int Flags)? Item(string key) => _fake is not null ? _fake.Get(key) : _real!.Get(key);

    /// <summary>Remaining ttl in seconds of an item on the real memcached (meta get), -1 = never expires.</summary>
    public int? RemainingTtl(string key)
    {
        if (_real is null) return null;
        var reply = Encoding.Latin1.GetString(_real.Raw(Encoding.Latin1.GetBytes($"mg {key} t\r\n"), "\r\n"));
        if (!reply.StartsWith("HD", StringComparison.Ordinal)) return null;
        var t = reply.Trim().Split(' ').Single(w => w.StartsWith('t'));
        return int.Parse(t[1..]);
    }

    /// <summary>
    /// The exact C→S bytes per connection (fake backend only; with the real memcached the
    /// vector is checked through the cache contents instead).
    /// </summary>
    public void AssertTraffic(params string[] connections)
    {
        if (_fake is null) return;
        Assert.That(_fake.Connections, Is.EqualTo(connections), "memcached traffic per connection");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var t in _opened) await t.DisposeAsync();
        if (_fake is not null) await _fake.DisposeAsync();
        _real?.Dispose();
    }
}
