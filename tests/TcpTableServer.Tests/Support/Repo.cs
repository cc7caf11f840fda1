namespace TcpTableServer.Tests.Support;

/// <summary>The repository checkout the tests run from.</summary>
public static class Repo
{
    public static string Root()
    {
        for (var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "TcpTableServer.sln"))) return d.FullName;
        throw new InvalidOperationException("TcpTableServer.sln not found above the test directory");
    }

    public static string Config => Path.Combine(Root(), "config");
}
