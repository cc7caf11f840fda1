namespace TcpTableServer.Tests;

/// <summary>Placeholder so the test project builds before the first suites land.</summary>
internal static class Infrastructure { }
