using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Memcache;
using TcpTableServer.Tests.Support;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Config;

/// <summary>
/// Spec 6.2 / 5.1: the three readers of Postfix-style files — .cf parameter files, texthash:
/// sources and <c>domain = /file</c> lists — see the same logical lines for the same tricky
/// input. Before they shared <see cref="LogicalLines"/> they did not (the domain list kept
/// text after a NUL byte), and a copy that drifts again fails here.
/// </summary>
public class LogicalLinesAgreementTests
{
    // Continuation at file start (dropped), CRLF, trailing whitespace, comments and blank
    // lines inside a continuation, a '#' word inside a line, a NUL byte, no final newline.
    private const string Tricky =
        "  orphan = o1.example\r\n" +                 // 1: continuation at file start
        "\torphan2.example\r\n" +                     // 2: ... and its continuation
        "# comment\r\n" +                             // 3
        "first = a.example \t\r\n" +                  // 4: logical line 1 starts
        "  # comment inside a continuation\r\n" +    // 5
        "\r\n" +                                      // 6: blank line between
        "   b.example\r\n" +                          // 7: continues line 4
        "#flush-left comment\n" +                     // 8
        "\tc.example   \n" +                          // 9: still line 4
        "second = d.example #e.example\n" +           // 10: logical line 2
        "  f.example\n" +                             // 11: same line, after the '#' word
        "\n" +                                        // 12
        "third = g.example\0h.example";               // 13: cut at NUL, no final newline

    // What Postfix readllines() yields for Tricky (texthash part checked with postmap below).
    private static readonly LogicalLine[] Expected =
    [
        new(4, "first = a.example \t\r   b.example\r\tc.example   "),
        new(10, "second = d.example #e.example  f.example"),
        new(13, "third = g.example"),
    ];

    private TempDir dir = null!;
    private ListLogger log = null!;

    [SetUp]
    public void SetUp()
    {
        dir = new TempDir();
        log = new ListLogger();
    }

    [TearDown]
    public void TearDown()
    {
        dir.Dispose();
        log.Dispose();
    }

    [Test]
    public async Task Spec62_CfTexthashAndDomainFile_AgreeOnTrickyInput()
    {
        Assert.That(LogicalLines.Read(Tricky, "t", log), Is.EqualTo(Expected));

        // .cf: name = value (split_nameval), each value with the line its logical line starts on.
        var cf = CfFile.Parse(Tricky, "t.cf", log);
        Assert.That(cf.Values.OrderBy(v => v.Line).Select(v => (v.Line, v.Name, v.Value)), Is.EqualTo(new[]
        {
            (4, "first", "a.example \t\r   b.example\r\tc.example"),
            (10, "second", "d.example #e.example  f.example"),
            (13, "third", "g.example"),
        }));

        // texthash: key up to the first whitespace, the rest trimmed, in file order.
        var texthash = TexthashTable.Parse(Tricky, "map", log);
        Assert.That(texthash.Select(e => (e.Key, e.Value)), Is.EqualTo(new[]
        {
            ("first", "= a.example \t\r   b.example\r\tc.example"),
            ("second", "= d.example #e.example  f.example"),
            ("third", "= g.example"),
        }));

        // domain = /file: each logical line is a list; a '#' word ends its own line's list only.
        string file = dir.Write("domains", Tricky);
        await using var filter = DomainFilter.Parse(new ConfigValue("domain", file, "m.cf", 1),
            new TestTableFactory(), dir.Path, "m.cf", log);
        foreach (var d in new[] { "a.example", "b.example", "c.example", "d.example", "g.example" })
            Assert.That((await filter.CheckAsync("u@" + d, CancellationToken.None)).Matches, Is.True, d);
        foreach (var d in new[] { "o1.example", "orphan2.example", "e.example", "f.example", "h.example", "comment" })
            Assert.That((await filter.CheckAsync("u@" + d, CancellationToken.None)).Matches, Is.False, d);
    }

    /// <summary>The texthash part of the expectation against real Postfix (postmap -s texthash:).</summary>
    [Test]
    public void Spec62_TrickyInput_TexthashMatchesPostmap()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        string file = dir.Write("map", Tricky);
        var postfix = new Postfix(dir.Path);
        Assert.That(postfix.Dump("texthash:" + file), Is.EqualTo(new[]
        {
            "first\t= a.example \t\r   b.example\r\tc.example",
            "second\t= d.example #e.example  f.example",
            "third\t= g.example",
        }));
    }
}
