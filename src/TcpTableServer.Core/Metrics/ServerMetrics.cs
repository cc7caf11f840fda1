using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using TcpTableServer.Protocols;
using TcpTableServer.Tables;

namespace TcpTableServer.Metrics;

/// <summary>
/// The server's instruments, on the <see cref="System.Diagnostics.Metrics.Meter"/> named
/// <see cref="MeterName"/> (so <c>dotnet-counters monitor -n TcpTableServer --counters TcpTableServer</c>
/// sees them, and the /metrics listener exports them as Prometheus text).
/// <para>
/// Off by default: without <c>[server] metrics</c> no instance exists and the handlers'
/// <c>Metrics</c> is null, so a request costs one null check (Garnet's pattern). With it on,
/// a request records three measurements with two or three string tags each (no boxing, no
/// allocation with the OpenTelemetry exporter: HitPathAllocationTests measures it).
/// </para>
/// <para>
/// Per request (recorded by the connection handlers): <c>tcptable_requests_total{map,protocol,result}</c>,
/// <c>tcptable_request_duration_seconds{map,protocol}</c>, <c>tcptable_lookups_total{map,tier}</c>
/// and <c>tcptable_l1_hits_total{map}</c>. Read when scraped (<see cref="MapCounters"/>, from
/// counters the tables keep on their error and miss paths only): memcached and backup errors,
/// L1 misses and evictions per map, open connections per listener, reloads, and the load time
/// of the active configuration. Those per-map counters belong to an opened map: a map that a
/// reload reopens (its settings changed) starts again from 0, which Prometheus' rate() reads as
/// a counter reset.
/// </para>
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "TcpTableServer";

    /// <summary>The protocol tag of the socketmap and tcp handlers.</summary>
    public const string Socketmap = "socketmap", Tcp = "tcp";

    /// <summary>Request duration buckets in seconds: 50 µs (an L1 or memcached hit) up to 10 s (Postfix's own timeout).</summary>
    private static readonly double[] Buckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _lookups;
    private readonly Counter<long> _l1Hits;
    private readonly LiveMaps _maps;
    private readonly ConditionalWeakTable<ITable, string> _names = new();
    private long _loadedAt;

    /// <summary>Successful and failed reloads (the host sets it once its reloader exists).</summary>
    public Func<(long Ok, long Failed)>? Reloads { get; set; }

    /// <param name="maps">the served maps (per-map counters are read from the current set when scraped)</param>
    /// <param name="gate">the connection counts per listener; null: no connection gauge</param>
    public ServerMetrics(LiveMaps maps, ConnectionGate? gate)
    {
        _maps = maps;
        _requests = _meter.CreateCounter<long>("tcptable_requests_total", description: "Lookups answered, by map, protocol and result (found, notfound, temp, perm, timeout)");
        _duration = _meter.CreateHistogram("tcptable_request_duration_seconds", "s", "Time from a lookup's start to its answer, by map and protocol",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Buckets });
        _lookups = _meter.CreateCounter<long>("tcptable_lookups_total", description: "Lookups by the tier that answered: l1, memcached, backup, skipped, error, deadline, none");
        _l1Hits = _meter.CreateCounter<long>("tcptable_l1_hits_total", description: "Lookups answered by the map's L1 cache");
        _meter.CreateObservableCounter("tcptable_l1_misses_total", () => MapCounters.Read(_maps, MapCounters.Kind.L1Misses),
            description: "Lookups the map's L1 cache could not answer");
        _meter.CreateObservableCounter("tcptable_l1_evictions_total", () => MapCounters.Read(_maps, MapCounters.Kind.L1Evictions),
            description: "Entries dropped from the map's L1 cache to make room");
        _meter.CreateObservableCounter("tcptable_memcached_errors_total", () => MapCounters.Read(_maps, MapCounters.Kind.MemcachedErrors),
            description: "Lookups whose memcached get failed (timeout, refused, bad reply)");
        _meter.CreateObservableCounter("tcptable_backup_errors_total", () => MapCounters.Read(_maps, MapCounters.Kind.BackupErrors),
            description: "Lookups whose backup table answered with an error");
        if (gate is not null)
            _meter.CreateObservableGauge("tcptable_connections", () => Connections(gate), description: "Connections open now, by listener");
        _meter.CreateObservableCounter("tcptable_reloads_total", ReadReloads, description: "Configuration reloads (SIGHUP), by result (ok, failed)");
        _meter.CreateObservableGauge("tcptable_config_loaded_timestamp_seconds", () => Volatile.Read(ref _loadedAt), "s",
            "When the active configuration was loaded (Unix time)");
    }

    /// <summary>The active configuration was loaded now (start, successful reload).</summary>
    public void ConfigLoaded(DateTimeOffset when) => Volatile.Write(ref _loadedAt, when.ToUnixTimeSeconds());

    /// <summary>
    /// Records one answered lookup of <paramref name="table"/> that started at
    /// <paramref name="started"/> (<see cref="Stopwatch.GetTimestamp"/>).
    /// </summary>
    public void Lookup(ITable table, string protocol, in LookupResult result, long started)
    {
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        string map = MapName(table);
        _requests.Add(1, new("map", map), new("protocol", protocol), new("result", ResultTag(result)));
        _duration.Record(seconds, new("map", map), new("protocol", protocol));
        _lookups.Add(1, new("map", map), new("tier", TierTag(result.Tier)));
        if (result.Tier == AnswerTier.L1) _l1Hits.Add(1, new KeyValuePair<string, object?>("map", map));
    }

    /// <summary>The result tag: found, notfound, temp, perm, or timeout (a temporary error given at the map's deadline).</summary>
    public static string ResultTag(in LookupResult result) => result.Status switch
    {
        LookupStatus.Found => "found",
        LookupStatus.NotFound => "notfound",
        LookupStatus.TempError => result.Tier == AnswerTier.Deadline ? "timeout" : "temp",
        _ => "perm",
    };

    public static string TierTag(AnswerTier tier) => tier switch
    {
        AnswerTier.L1 => "l1",
        AnswerTier.Memcached => "memcached",
        AnswerTier.Backup => "backup",
        AnswerTier.Skipped => "skipped",
        AnswerTier.Error => "error",
        AnswerTier.Deadline => "deadline",
        _ => "none",
    };

    /// <summary>
    /// The map name of a served table ("aliases" for "memcache:aliases"), computed once per
    /// table instance (a reload's new tables get theirs; old ones go with their tables).
    /// </summary>
    private string MapName(ITable table) =>
        _names.GetValue(table, MapCounters.MapName);

    private static IEnumerable<Measurement<int>> Connections(ConnectionGate gate)
    {
        foreach (var (listener, count) in gate.ListenerCounts())
            yield return new Measurement<int>(count, new KeyValuePair<string, object?>("listener", listener));
    }

    private IEnumerable<Measurement<long>> ReadReloads()
    {
        var (ok, failed) = Reloads?.Invoke() ?? (0, 0);
        yield return new Measurement<long>(ok, new KeyValuePair<string, object?>("result", "ok"));
        yield return new Measurement<long>(failed, new KeyValuePair<string, object?>("result", "failed"));
    }

    public void Dispose() => _meter.Dispose();
}
