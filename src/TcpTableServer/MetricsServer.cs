using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NLog.Extensions.Logging;
using OpenTelemetry.Metrics;
using TcpTableServer.Config;
using TcpTableServer.Metrics;
using TcpTableServer.Protocols;

namespace TcpTableServer.Host;

/// <summary>
/// The <c>[server] metrics</c> listener: a small WebApplication of its own (the table
/// listeners are plain Kestrel connection handlers) serving <c>GET /metrics</c>, the
/// <see cref="ServerMetrics"/> instruments as Prometheus text through the OpenTelemetry
/// exporter, and <c>GET /health</c> (<see cref="HealthProbe"/>). Clients outside the
/// listener's allow list are closed at accept, as on every listener. Built before the table
/// listeners open (so the exporter collects from the first request), started after them,
/// stopped at shutdown before the maps close.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    public EndpointSpec Endpoint { get; }

    private MetricsServer(WebApplication app, EndpointSpec endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public static MetricsServer Build(EndpointSpec endpoint, LiveMaps maps, ILoggerFactory loggers)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddNLog(new NLogProviderOptions { IncludeScopes = false });
        // The main host owns SIGTERM and systemd notifications; this one only starts and stops when told.
        builder.Services.AddSingleton<IHostLifetime, NoLifetime>();
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(ServerMetrics.MeterName)
            // no cached scrape (the exporter's default keeps one for 300 ms): a scrape shows every lookup answered before it
            .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        var access = new AccessGate(endpoint.Allow ?? AllowList.LoopbackOnly, $"metrics {endpoint}", loggers.CreateLogger("TcpTableServer.Access"));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            ListenerSet.Bind(k, endpoint, l => l.Use(next => c => access.Check(c.RemoteEndPoint) ? next(c) : Refuse(c)), "metrics listener");
        });
        var app = builder.Build();
        // Created now, so the exporter's listener collects from the first request on.
        _ = app.Services.GetRequiredService<MeterProvider>();
        app.MapPrometheusScrapingEndpoint("/metrics");
        var health = new HealthProbe(maps);
        app.MapGet("/health", async (HttpContext context) =>
        {
            var failing = await health.FailingAsync(context.RequestAborted);
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.StatusCode = failing.Count == 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsync(failing.Count == 0 ? "ok\n" : string.Join('\n', failing) + "\n");
        });
        return new MetricsServer(app, endpoint);
    }

    private static Task Refuse(Microsoft.AspNetCore.Connections.ConnectionContext c)
    {
        c.Abort();
        return Task.CompletedTask;
    }

    /// <summary>Starts serving; a UNIX socket gets the listener's mode, owner and group, as the table listeners' do.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        await _app.StartAsync(ct);
        if (Endpoint.Kind == EndpointKind.Unix) SocketFile.Apply(Endpoint);
    }

    /// <summary>Stops serving; a UNIX socket file goes, as the table listeners' do.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(2));
        if (Endpoint.Kind == EndpointKind.Unix) SocketFile.TryDelete(Endpoint.Path);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private sealed class NoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
