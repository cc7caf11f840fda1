using System.Text.Json;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// The server's runtime options (TcpTableServer.runtimeconfig.json beside the server the tests
/// run): idle thread-pool workers block instead of spinning for work. Lmdb write results and
/// Npgsql replies complete on the pool one at a time; with the runtime's default spin each
/// woke a worker that spun on sched_yield (about 100 000 calls per second and twice the CPU
/// per put under 1 400 puts/s into an lmdb backup: scripts/reliability lmdb-puts).
/// </summary>
[TestFixture]
public class RuntimeConfigTests
{
    [Test]
    public void Server_thread_pool_workers_do_not_spin_for_work()
    {
        string path = Path.ChangeExtension(ServerProcess.ServerDll, ".runtimeconfig.json");
        Assert.That(File.Exists(path), Is.True, path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var options = doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.That(options.TryGetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", out var spin), Is.True,
            $"{path} sets no thread-pool spin limit");
        Assert.That(spin.GetInt32(), Is.EqualTo(0));
    }
}
