using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Explain;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Explain;

/// <summary>
/// The trace of <c>query --explain</c> is opt-in and ambient: only lookups that run inside
/// <see cref="LookupTrace.Attach"/> record into it; other lookups, concurrent ones included,
/// see no trace (the server never attaches one).
/// </summary>
public sealed class LookupTraceTests
{
    [Test]
    public async Task Only_lookups_inside_the_scope_record_and_the_scope_restores_no_trace()
    {
        Assert.That(LookupTrace.Current, Is.Null, "nothing attached by default");
        await using var table = new Utf8Table(StaticTable.Open("static:v", NullLogger.Instance), foldKeys: true, NullLogger.Instance);
        var trace = new LookupTrace();

        var gate = new TaskCompletionSource();
        var outside = Task.Run(async () => { await gate.Task; return await table.LookupAsync("Outside@X"); });
        using (LookupTrace.Attach(trace))
        {
            Assert.That(await Task.Run(() => LookupTrace.Current), Is.SameAs(trace), "flows into the lookup's tasks");
            gate.SetResult();
            await table.LookupAsync("Inside@X");
            await outside;
        }
        Assert.That(LookupTrace.Current, Is.Null, "restored");
        await table.LookupAsync("After@X");

        var keys = trace.Events.OfType<Utf8Event>().Select(e => e.Key).ToList();
        Assert.That(keys, Is.EqualTo(new[] { "Inside@X" }));
        Assert.That(trace.Events.OfType<Utf8Event>().Single().Folded, Is.EqualTo("inside@x"));
    }
}
