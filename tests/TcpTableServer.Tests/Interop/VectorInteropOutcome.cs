using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// A vector's lookup result (spec 7.3 "Result") as the Postfix 3.7.11 client shows it
/// (spec 8.2): found = `postmap -q` prints the value and exits 0 (an empty value with the
/// lookup layer's "empty string result" warning, V11); not found = exit 1, nothing printed;
/// an error = "fatal: table ...: query error", and over socketmap the TEMP/PERM reason is
/// logged by the client ("socketmap server temporary error: temporary-failure"). Over tcp
/// the 4xx text is not visible to Postfix (spec 1.4; the wire tests check it).
/// </summary>
internal readonly record struct Outcome(Outcome.Kind What, string? Value)
{
    public enum Kind { Found, NotFound, TempError, ConfigError }

    public static Outcome Found(string value) => new(Kind.Found, value);
    public static readonly Outcome NotFound = new(Kind.NotFound, null);
    public static readonly Outcome TempError = new(Kind.TempError, null);
    public static readonly Outcome ConfigError = new(Kind.ConfigError, null);

    public void AssertPostmap(Postfix.Result r, Protocol protocol)
    {
        string context = $"{protocol}: exit {r.ExitCode}, stderr: {r.Stderr}";
        switch (What)
        {
            case Kind.Found:
                Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((0, Value + "\n")), context);
                if (Value!.Length == 0)
                    Assert.That(r.Stderr, Does.Contain("empty string result is not allowed"), context);
                else
                    Assert.That(r.Stderr, Does.Not.Contain("warning"), context);
                break;
            case Kind.NotFound:
                Assert.That((r.ExitCode, r.Stdout), Is.EqualTo((1, "")), context);
                Assert.That(r.Stderr, Does.Not.Contain("error"), context);
                break;
            default:
                Assert.That(r.ExitCode, Is.Not.Zero, context);
                Assert.That(r.Stdout, Is.Empty, context);
                Assert.That(r.Stderr, Does.Contain("query error"), context);
                if (protocol == Protocol.Socketmap)
                    Assert.That(r.Stderr, Does.Contain(What == Kind.TempError
                        ? "socketmap server temporary error: temporary-failure"
                        : "socketmap server permanent error: configuration-error"), context);
                break;
        }
    }
}
