using System.Security;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// scripts/test --require-all counts a test that did not run as failed unless it is [Explicit];
/// scripts/test.d/notrun.py lists those tests from the run's TRX and the test sources. Here it
/// runs on a small TRX and source file of its own: an ignored test is named, an [Explicit] one
/// (on the method or on its class) is not, and a method of another class with the same name as
/// an Explicit one is still named (Explicit belongs to a class and method, not to a bare name).
/// </summary>
[TestFixture, Category("Deployment")]
public sealed class RequireAllTests
{
    private static string Script => Path.Combine(Repo.Root(), "scripts", "test.d", "notrun.py");

    // Each line starts with a quote, so notrun.py (an attribute at the start of a line) does not
    // take these attributes for the real sources' own when it reads this file.
    private static readonly string Source = string.Join('\n',
        "namespace Fixture;",
        "public class Alpha",
        "{",
        "    /// Not [Explicit]: it needs a tool that is missing.",
        "    [Test]",
        "    public void Ignored_test() { }",
        "    [Test]",
        "    public void Measured() { }",
        "    [Test]",
        "    public void Passes() { }",
        "}",
        "public class Beta",
        "{",
        "    [Test, Explicit(\"a measurement\")]",
        "    public void Measured() { }",
        "}",
        "[TestFixture, Explicit(\"measurements\")]",
        "public sealed class Gamma",
        "{",
        "    [Test]",
        "    public async Task Anything() { }",
        "}",
        "");

    [Test]
    public void Ignored_tests_are_named_Explicit_ones_are_not_and_Explicit_is_per_class_and_method()
    {
        Assume.That(Tool.Find("python3"), Is.Not.Null, "python3 is missing (scripts/test needs it too)");
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["src"]);
        Directory.CreateDirectory(dir["results"]);
        dir.File(Path.Combine("src", "Fixture.cs"), Source);
        dir.File(Path.Combine("results", "tests.trx"), Trx(
            ("Alpha", "Ignored_test", "NotExecuted", "Ignored: the tool is missing"),
            ("Alpha", "Measured", "NotExecuted", "OneTimeSetUp: not run"),
            ("Alpha", "Passes", "Passed", null),
            ("Beta", "Measured", "NotExecuted", "a measurement"),
            ("Gamma", "Anything", "NotExecuted", "OneTimeSetUp: measurements")));

        var r = Tool.Run("python3", [Script, dir["results"], dir["src"]]);

        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EquivalentTo(new[]
        {
            "Alpha.Ignored_test: Ignored: the tool is missing",
            "Alpha.Measured: OneTimeSetUp: not run",
        }), r.ToString());
    }

    /// <summary>A TRX that cannot be read is an error (non-zero exit), never an empty list that lets skipped tests pass.</summary>
    [Test]
    public void A_TRX_that_cannot_be_parsed_is_an_error_not_an_empty_list()
    {
        Assume.That(Tool.Find("python3"), Is.Not.Null, "python3 is missing (scripts/test needs it too)");
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["src"]);
        Directory.CreateDirectory(dir["results"]);
        dir.File(Path.Combine("results", "tests.trx"), "<TestRun><Results>");

        var r = Tool.Run("python3", [Script, dir["results"], dir["src"]]);

        Assert.That(r.ExitCode, Is.Not.Zero, r.ToString());
        Assert.That(r.Stdout, Is.Empty, r.ToString());
    }

    /// <summary>A TRX as the NUnit adapter writes it: one UnitTestResult and one UnitTest (with its class) per test.</summary>
    private static string Trx(params (string Class, string Test, string Outcome, string? Message)[] tests)
    {
        var results = new List<string>();
        var definitions = new List<string>();
        foreach (var (cls, test, outcome, message) in tests)
        {
            string id = Guid.NewGuid().ToString();
            string output = message is null ? ""
                : $"<Output><StdOut>{SecurityElement.Escape(message)}</StdOut><ErrorInfo><Message>{SecurityElement.Escape(message)}</Message></ErrorInfo></Output>";
            results.Add($"<UnitTestResult testId=\"{id}\" testName=\"{test}\" outcome=\"{outcome}\">{output}</UnitTestResult>");
            definitions.Add($"<UnitTest name=\"{test}\" id=\"{id}\"><TestMethod className=\"Fixture.{cls}\" name=\"{test}\" /></UnitTest>");
        }
        return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
               + "<TestRun xmlns=\"http://microsoft.com/schemas/VisualStudio/TeamTest/2010\">\n"
               + $"<Results>{string.Join("\n", results)}</Results>\n"
               + $"<TestDefinitions>{string.Join("\n", definitions)}</TestDefinitions>\n"
               + "</TestRun>\n";
    }
}
