using System.Diagnostics;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Protocols;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// A map's optional deadline: a lookup not answered within it gets a temporary error (TEMP /
/// 400, spec 2.6: Postfix treats TEMP and TIMEOUT alike) instead of waiting for the table,
/// so the reply comes before Postfix's own client timeout; prompt answers pass unchanged.
/// </summary>
public class DeadlineTableTests
{
    [Test]
    public async Task A_lookup_past_the_deadline_is_a_temporary_error_at_the_deadline()
    {
        var inner = new TableDouble().With("k", "v");
        inner.Gate = new TaskCompletionSource();          // the table never answers
        var logs = new ListLogger();
        await using var table = new DeadlineTable(inner, TimeSpan.FromMilliseconds(300), logs);
        var watch = Stopwatch.StartNew();
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.TempError));
        Assert.That(watch.Elapsed.TotalSeconds, Is.InRange(0.25, 2.0));
        Assert.That(logs.Warnings.Single(), Does.Contain("not answered within the deadline of 0.3 s"));
        inner.Gate.SetResult();
    }

    [Test]
    public async Task Answers_within_the_deadline_pass_unchanged()
    {
        var inner = new TableDouble().With("k", "v");
        inner.Delay = TimeSpan.FromMilliseconds(20);
        await using var table = new DeadlineTable(inner, TimeSpan.FromSeconds(5), new ListLogger());
        Assert.That(await table.LookupAsync("k"), Is.EqualTo(LookupResult.Found("v")));
        Assert.That(await table.LookupAsync("x"), Is.EqualTo(LookupResult.NotFound));
    }
}
