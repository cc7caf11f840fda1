using System.Text;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Keys;

/// <summary>
/// KeyFormat as an SQL result_format (Postfix db_common_expand with a key): %s %u %d are the
/// result's, %S %U %D and %1..%9 the lookup key's; results lacking a part a template needs
/// are skipped; expansions are joined with ','; the query's needs apply to the key too.
/// </summary>
public sealed class KeyFormatResultTests
{
    private static string? Expand(string format, string query, params string[] values)
    {
        var f = KeyFormat.Parse(format, out _)!;
        var q = KeyFormat.Parse(query, out _)!;
        var needs = q.NeedsAs(result: false) | f.NeedsAs(result: true);
        int labels = Math.Max(q.MaxLabel, f.MaxLabel);
        var into = new StringBuilder();
        foreach (var v in values) f.ExpandResult(v, "joe@mail.example.com", needs, labels, into);
        return into.ToString();
    }

    [Test]
    public void LowerCaseIsTheResult_UpperCaseAndLabelsAreTheKey() =>
        Assert.That(Expand("%s|%u|%d|%S|%U|%D|%1|%2|%%", "%s", "ann@dest.example"),
            Is.EqualTo("ann@dest.example|ann|dest.example|joe@mail.example.com|joe|mail.example.com|com|example|%"));

    [Test]
    public void ResultWithoutDomainOrLocalpart_SkippedWhenTheTemplateNeedsIt() =>
        Assert.That(Expand("<%u>", "%s", "plain", "@nouser.example", "x@y"), Is.EqualTo("<plain>,<x>"));

    [Test]
    public void ResultDomain_ResultsWithoutDomainSkipped_JoinedWithComma() =>
        Assert.That(Expand("%d", "%s", "a@one.example", "nodomain", "b@", "c@two.example"), Is.EqualTo("one.example,two.example"));

    [Test]
    public void KeyNeeds_CombineWithTheQuery()
    {
        var f = KeyFormat.Parse("%s", out _)!;
        var q = KeyFormat.Parse("%3", out _)!;
        var needs = q.NeedsAs(result: false) | f.NeedsAs(result: true);
        Assert.That(needs, Is.EqualTo(KeyFormat.Needs.KeyDomain));
        Assert.That(KeyFormat.KeyAllows("joe@mail.example.com", needs, 3), Is.True);
        Assert.That(KeyFormat.KeyAllows("joe@example.com", needs, 3), Is.False, "two labels, %3 needs three");
        Assert.That(KeyFormat.KeyAllows("joe", KeyFormat.Parse("%D", out _)!.NeedsAs(result: true), 0), Is.False, "%D in a result template needs the key's domain");
    }
}
