using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using TcpTableServer.Caching;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Metrics;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// No per-request allocation on the hit path, measured end to end in this
/// process: a client socket (blocking calls, preallocated buffers: it allocates nothing)
/// sends lookups of hot keys to a real Kestrel listener whose map is configuration A of
/// spec 7.2 (<c>key_format = aliases:%s</c>) on a real memcached; keys arrive in mixed case,
/// so UTF-8 validation and folding (V03, spec 3.3) and key_format expansion run on every request. Everything the process
/// allocates while the requests are answered counts: Kestrel, the codec, the table, the
/// memcached client, the async machinery.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class HitPathAllocationTests
{
    private const int HotKeys = 64, Windows = 5, RequestsPerWindow = 2000;

    /// <summary>
    /// Judged on the median of 5 windows: an allocation per request shows in every window,
    /// while a one-off event lands in one (Kestrel's memory pool gives idle 4 KiB blocks back
    /// and allocates them again, ~64 KiB at a time). 8 bytes a request leave room for timers.
    /// What such an allocation would be: the key, its folded form, its key_format expansion or
    /// the value as new strings (figures in docs/benchmarks.md).
    /// </summary>
    private const double BytesPerRequestBound = 8;

    [Test]
    public Task V01_V03_SocketmapHitsThroughMemcached_AllocateNothingPerRequest() =>
        Measure(l1: false, tcp: false);

    [Test]
    public Task V01_V03_TcpHitsThroughMemcached_AllocateNothingPerRequest() =>
        Measure(l1: false, tcp: true);

    [Test]
    public Task SocketmapL1Hits_AllocateNothingPerRequest() =>
        Measure(l1: true, tcp: false);

    /// <summary>
    /// The same with metrics on (<c>[server] metrics</c>): the handlers record every lookup
    /// (requests, duration histogram, tier, L1 hits) while the OpenTelemetry Prometheus
    /// exporter the /metrics listener uses is attached and aggregating; the bound is the same.
    /// </summary>
    [Test]
    public Task Metrics_SocketmapHitsThroughMemcached_WithMetricsOn_AllocateNothingPerRequest() =>
        Measure(l1: false, tcp: false, metrics: true);

    [Test]
    public Task Metrics_TcpHitsThroughMemcached_WithMetricsOn_AllocateNothingPerRequest() =>
        Measure(l1: false, tcp: true, metrics: true);

    [Test]
    public Task Metrics_SocketmapL1Hits_WithMetricsOn_AllocateNothingPerRequest() =>
        Measure(l1: true, tcp: false, metrics: true);

    private static async Task Measure(bool l1, bool tcp, bool metrics = false)
    {
        ReleaseOnly.Require();
        await using var rig = new VectorRig(Backend.Real);
        var requests = new byte[HotKeys][];
        var replies = new byte[HotKeys][];
        for (int i = 0; i < HotKeys; i++)
        {
            string value = $"alias{i}@example.org";
            rig.Seed($"aliases:user{i}@example.com", value);
            string key = $"User{i}@Example.COM";
            string payload = "aliases " + key;
            requests[i] = Encoding.Latin1.GetBytes(tcp ? $"get {key}\n" : $"{payload.Length}:{payload},");
            string ok = "OK " + value;
            replies[i] = Encoding.Latin1.GetBytes(tcp ? $"200 {value}\n" : $"{ok.Length}:{ok},");
        }
        ITable table = rig.Open("A");   // the rig disposes it (a CachedTable around it only forwards disposal)
        if (l1) table = new CachedTable(table, new L1Options(TimeSpan.FromMinutes(5), 1000, TimeSpan.Zero), foldKeys: true);
        table = new Utf8Table(table, foldKeys: true, NullLogger.Instance);   // as MapSet serves it (smtputf8_enable = yes)
        var live = LiveMaps.Of(new Dictionary<string, ITable> { [tcp ? table.Name : "aliases"] = table });
        using var exporter = metrics ? Sdk.CreateMeterProviderBuilder().AddMeter(ServerMetrics.MeterName).AddPrometheusExporter().Build() : null;
        using var recorder = metrics ? new ServerMetrics(live, gate: null) : null;
        await using var host = await KestrelTestHost.StartAsync(tcp
            ? new TcpTableConnectionHandler(live, table.Name, allowPut: false, TimeSpan.Zero, NullLogger<TcpTableConnectionHandler>.Instance) { Metrics = recorder }
            : new SocketmapConnectionHandler(live, TimeSpan.FromMinutes(1), NullLogger<SocketmapConnectionHandler>.Instance) { Metrics = recorder });
        using var collected = metrics ? new CountingListener() : null;

        using var client = new Socket(host.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(host.EndPoint);
        var buffer = new byte[256];
        int mismatches = 0;
        void Run(int count)
        {
            for (int n = 0; n < count; n++)
            {
                int i = n % HotKeys;
                client.Send(requests[i]);
                int got = 0;
                while (got < replies[i].Length)
                {
                    int r = client.Receive(buffer, got, buffer.Length - got, SocketFlags.None);
                    if (r == 0) throw new IOException("server closed the connection");
                    got += r;
                }
                if (got != replies[i].Length || !buffer.AsSpan(0, got).SequenceEqual(replies[i])) mismatches++;
            }
        }

        Run(2000);   // warm up: JIT, connections, pools
        var windows = new double[Windows];
        for (int w = 0; w < Windows; w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Run(RequestsPerWindow);
            windows[w] = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)RequestsPerWindow;
        }
        Array.Sort(windows);
        double median = windows[Windows / 2];
        string shown = string.Join(", ", windows.Select(b => b.ToString("F1")));
        TestContext.Out.WriteLine($"bytes per request in {Windows} windows: {shown}");
        Assert.That(mismatches, Is.Zero, "every reply is the seeded value");
        if (collected is not null)
            Assert.That(collected.Requests, Is.EqualTo(Windows * RequestsPerWindow + 2000), "every lookup was recorded");
        Assert.That(median, Is.LessThan(BytesPerRequestBound), $"bytes per request in {Windows} windows: {shown}");
    }

    /// <summary>A second listener on tcptable_requests_total, to show the lookups were recorded (it allocates nothing either).</summary>
    private sealed class CountingListener : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _requests;

        public long Requests => Interlocked.Read(ref _requests);

        public CountingListener()
        {
            _listener.InstrumentPublished = (i, l) =>
            {
                if (i.Meter.Name == ServerMetrics.MeterName && i.Name == "tcptable_requests_total") l.EnableMeasurementEvents(i, this);
            };
            _listener.SetMeasurementEventCallback<long>((_, v, _, state) => Interlocked.Add(ref ((CountingListener)state!)._requests, v));
            _listener.Start();
        }

        public void Dispose() => _listener.Dispose();
    }
}
