namespace TcpTableServer.Tests.Support;

/// <summary>
/// Allocation measurements need a Release build: Debug builds compile async methods to
/// classes allocated per call. A runtime check (not <c>#if</c> around a throwing call, which
/// leaves the rest of the test unreachable and fails the Debug build's nullable analysis).
/// </summary>
public static class ReleaseOnly
{
#if DEBUG
    public static readonly bool IsDebugBuild = true;
#else
    public static readonly bool IsDebugBuild = false;
#endif

    /// <summary>Ignores the calling test in a Debug build (scripts/test runs Release).</summary>
    public static void Require()
    {
        if (IsDebugBuild)
            Assert.Ignore("Debug builds compile async methods to classes allocated per call; scripts/test runs Release");
    }
}
