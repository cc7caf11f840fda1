using TcpTableServer.Config;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Config;

/// <summary>
/// The one logical-line reader (Postfix readllines(), spec 6.2): what it yields, line by line.
/// The agreement of its three users is <see cref="LogicalLinesAgreementTests"/>.
/// </summary>
public class LogicalLinesTests
{
    private ListLogger log = null!;

    [SetUp]
    public void SetUp() => log = new ListLogger();

    [TearDown]
    public void TearDown() => log.Dispose();

    private (int, string)[] Read(string text) =>
        [.. LogicalLines.Read(text, "f", log.CreateLogger("t")).Select(l => (l.LineNumber, l.Text))];

    [Test]
    public void Spec62_ContinuationAppendsWithLeadingWhitespace_NewlineDropped()
    {
        Assert.That(Read("abc\n def\n\tghi\nxyz\n"), Is.EqualTo(new[] { (1, "abc def\tghi"), (4, "xyz") }));
    }

    [TestCase("abc\n#def\n ghi\n", TestName = "Spec62_FlushLeftCommentInsideContinuation_DoesNotEndLine")]
    [TestCase("abc\n  #def\n ghi\n", TestName = "Spec62_IndentedCommentInsideContinuation_DoesNotEndLine")]
    [TestCase("abc\n\n ghi\n", TestName = "Spec62_EmptyLineInsideContinuation_DoesNotEndLine")]
    [TestCase("abc\n \t \n ghi\n", TestName = "Spec62_WhitespaceLineInsideContinuation_DoesNotEndLine")]
    public void SkippedLinesInsideContinuation(string text)
    {
        Assert.That(Read(text), Is.EqualTo(new[] { (1, "abc ghi") }));
    }

    [Test]
    public void Spec62_LineNumberIsFirstTextLine_NotLeadingCommentOrBlank()
    {
        Assert.That(Read("# c\n\n  \nabc\n\n#x\ndef"), Is.EqualTo(new[] { (4, "abc"), (7, "def") }));
    }

    [Test]
    public void Spec62_ContinuationAtFileStart_DroppedWithItsContinuations_OneWarning()
    {
        Assert.That(Read("  orphan\n\tmore\n#c\nabc\n"), Is.EqualTo(new[] { (4, "abc") }));
        Assert.That(log.Warnings.Single(), Does.Contain("f, line 1: logical line must not start with whitespace: \"  orphan\tmore\""));
    }

    [Test]
    public void Spec62_IndentedCommentAtFileStart_IsJustAComment()
    {
        Assert.That(Read(" #abc\ndef\n"), Is.EqualTo(new[] { (2, "def") }));
        Assert.That(log.Warnings, Is.Empty);
    }

    [Test]
    public void Spec62_CrLf_CrKeptForTheCallerToTrim()
    {
        Assert.That(Read("a b\r\n  c\r\n\r\nd\r\n"), Is.EqualTo(new[] { (1, "a b\r  c\r"), (4, "d\r") }));
    }

    [Test]
    public void Spec62_VtFfCrAtLineStartContinue()
    {
        Assert.That(Read("a\n\vb\n\fc\n\rd"), Is.EqualTo(new[] { (1, "a\vb\fc\rd") }));
    }

    [Test]
    public void Spec62_NoFinalNewline_LastLineAndTrailingWhitespaceLine()
    {
        Assert.That(Read("abc def"), Is.EqualTo(new[] { (1, "abc def") }));
        Assert.That(Read("abc\n "), Is.EqualTo(new[] { (1, "abc") }));
        Assert.That(Read("#abc def"), Is.Empty);
        Assert.That(Read("\n \n"), Is.Empty);
        Assert.That(Read(""), Is.Empty);
    }

    [Test]
    public void NulByte_CutsTheLogicalLine_WithWarningNamingItsLines()
    {
        Assert.That(Read("abc\0x\n def\nghi\n"), Is.EqualTo(new[] { (1, "abc"), (3, "ghi") }));
        Assert.That(log.Warnings.Single(), Does.Contain("f, line 1-2: text after null byte may be ignored"));
    }
}
