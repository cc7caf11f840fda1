using TcpTableServer.Metrics;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// tcptable_requests_total's result label: found, notfound, temp, perm, and timeout for the
/// temporary error a map's deadline gives (DeadlineTable marks it <see cref="AnswerTier.Deadline"/>),
/// while a temporary error from the table itself stays temp.
/// </summary>
public class MetricsResultTagTests
{
    [Test]
    public async Task Metrics_DeadlineTempError_IsTimeout_OtherTempErrors_AreTemp()
    {
        var inner = new TableDouble().With("k", "v");
        inner.Gate = new TaskCompletionSource();          // the table never answers
        await using var table = new DeadlineTable(inner, TimeSpan.FromMilliseconds(100), new ListLogger());
        var late = await table.LookupAsync("k");
        Assert.That((late.Status, late.Tier), Is.EqualTo((LookupStatus.TempError, AnswerTier.Deadline)));
        Assert.That(ServerMetrics.ResultTag(late), Is.EqualTo("timeout"));
        inner.Gate.SetResult();

        Assert.That(ServerMetrics.ResultTag(LookupResult.TempError.From(AnswerTier.Memcached)), Is.EqualTo("temp"));
        Assert.That(ServerMetrics.ResultTag(LookupResult.ConfigError.From(AnswerTier.Error)), Is.EqualTo("perm"));
        Assert.That(ServerMetrics.ResultTag(LookupResult.Found("v").From(AnswerTier.L1)), Is.EqualTo("found"));
        Assert.That(ServerMetrics.ResultTag(LookupResult.NotFound.From(AnswerTier.Skipped)), Is.EqualTo("notfound"));
    }
}
