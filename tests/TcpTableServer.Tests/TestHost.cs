namespace TcpTableServer.Tests;

/// <summary>
/// Once for the whole test assembly. Many tests block a test thread on a child process
/// (`postmap`, the server binary) while in-process doubles (the scripted memcached, Kestrel
/// hosts) serve it from the thread pool; when the pool runs short, .NET adds a thread about
/// every 0.5 s, and those stalls showed up as extra "pauses" between memcached commands
/// (V27, V29, V39: +0.5 to +1.9 s). Enough threads from the start keep the doubles prompt.
/// </summary>
[SetUpFixture]
public sealed class TestHost
{
    [OneTimeSetUp]
    public void EnoughThreads()
    {
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));
    }
}
