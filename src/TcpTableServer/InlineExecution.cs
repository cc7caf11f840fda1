namespace TcpTableServer.Host;

/// <summary>
/// A request is answered on the thread that received it. Socket completions run on
/// the epoll thread instead of hopping to the thread pool, and Kestrel schedules the
/// connection handlers inline. Safe because nothing on the request path blocks (memcached
/// I/O is asynchronous; backup tables are in memory or lmdb reads).
/// <c>TCPTABLESERVER_INLINE=0</c> in the environment turns both off.
/// </summary>
internal static class InlineExecution
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    public static readonly bool Enabled = Environment.GetEnvironmentVariable("TCPTABLESERVER_INLINE") != "0";

    /// <summary>Must run before the first socket exists; an explicit value in the environment wins.</summary>
    public static void ConfigureSocketCompletions()
    {
        if (Enabled && Environment.GetEnvironmentVariable(InlineCompletions) is null)
            Environment.SetEnvironmentVariable(InlineCompletions, "1");
    }
}
