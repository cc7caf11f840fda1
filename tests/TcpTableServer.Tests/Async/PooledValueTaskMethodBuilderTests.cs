using TcpTableServer.Tests.Support;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using TcpTableServer.Async;

namespace TcpTableServer.Tests.Async;

/// <summary>
/// No allocation per request on the hit path: the builder of the request path's async
/// methods behaves like the runtime's and reuses its boxes when many calls are suspended at once.
/// </summary>
public class PooledValueTaskMethodBuilderTests
{
    /// <summary>A reusable awaitable completed by the test (allocates nothing per use).</summary>
    private sealed class Gate : IValueTaskSource<int>
    {
        private ManualResetValueTaskSourceCore<int> _core;
        public ValueTask<int> Wait() => new(this, _core.Version);
        public void Open(int value) => _core.SetResult(value);
        public void Fail(Exception e) => _core.SetException(e);
        public int GetResult(short token)
        {
            try { return _core.GetResult(token); }
            finally { _core.Reset(); }
        }
        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
        public void OnCompleted(Action<object?> c, object? s, short token, ValueTaskSourceOnCompletedFlags f) =>
            _core.OnCompleted(c, s, token, f);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> AfterGate(Gate gate, int add) => await gate.Wait().ConfigureAwait(false) + add;

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> TwoGates(Gate first, Gate second) =>
        await first.Wait().ConfigureAwait(false) * 10 + await second.Wait().ConfigureAwait(false);

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> Immediate(int value, bool fail)
    {
        if (fail) throw new InvalidOperationException("sync failure");
        await Task.CompletedTask;
        return value;
    }

    private static readonly AsyncLocal<string?> Flowing = new();

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<string?> ReadAsyncLocalAfter(Gate gate)
    {
        await gate.Wait().ConfigureAwait(false);
        return Flowing.Value;
    }

    [Test]
    public void a_call_that_completes_synchronously_returns_its_result_or_exception_without_a_box()
    {
        var ok = Immediate(7, fail: false);
        Assert.That(ok.IsCompletedSuccessfully, Is.True);
        Assert.That(ok.Result, Is.EqualTo(7));
        var failed = Immediate(0, fail: true);
        Assert.That(failed.IsFaulted, Is.True);
        Assert.That(async () => await failed, Throws.InvalidOperationException.With.Message.EqualTo("sync failure"));
    }

    [Test]
    public async Task suspended_calls_resume_with_their_own_results_across_reuse()
    {
        var a = new Gate();
        var b = new Gate();
        for (int round = 0; round < 50; round++)
        {
            var call = TwoGates(a, b);
            Assert.That(call.IsCompleted, Is.False);
            a.Open(round);
            Assert.That(call.IsCompleted, Is.False, "second await suspends again");
            b.Open(3);
            Assert.That(await call, Is.EqualTo(round * 10 + 3));
        }
    }

    [Test]
    public async Task an_exception_after_a_suspension_reaches_the_awaiter()
    {
        var gate = new Gate();
        var call = AfterGate(gate, 1);
        gate.Fail(new TimeoutException("late"));
        Assert.That(async () => await call, Throws.TypeOf<TimeoutException>().With.Message.EqualTo("late"));
        var next = AfterGate(gate, 1);   // the box of the failed call is reused cleanly
        gate.Open(41);
        Assert.That(await next, Is.EqualTo(42));
    }

    [Test]
    public async Task the_execution_context_flows_across_a_suspension()
    {
        var gate = new Gate();
        Flowing.Value = "caller";
        var call = ReadAsyncLocalAfter(gate);
        Flowing.Value = null;
        // completed on another thread whose context does not hold the value
        await Task.Run(() => gate.Open(0));
        Assert.That(await call, Is.EqualTo("caller"));
    }

    [Test]
    public void taking_a_result_before_the_call_completed_throws_and_leaves_the_call_intact()
    {
        var gate = new Gate();
        var call = AfterGate(gate, 1);
        Assert.That(() => call.Result, Throws.InvalidOperationException);
        gate.Open(1);
        Assert.That(call.Result, Is.EqualTo(2));
    }

    [Test]
    public void Sixty_four_suspended_calls_at_once_reuse_their_boxes()
    {
        ReleaseOnly.Require();
        const int InFlight = 64, Rounds = 200;
        var gates = Enumerable.Range(0, InFlight).Select(_ => new Gate()).ToArray();
        var calls = new ValueTask<int>[InFlight];
        long sum = 0;
        void Round()
        {
            for (int i = 0; i < InFlight; i++) calls[i] = AfterGate(gates[i], i);
            for (int i = 0; i < InFlight; i++) gates[i].Open(1);
            for (int i = 0; i < InFlight; i++) sum += calls[i].Result;
        }
        for (int r = 0; r < 10; r++) Round();   // warm up: the pool fills
        sum = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int r = 0; r < Rounds; r++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(sum, Is.EqualTo(Rounds * (InFlight + InFlight * (InFlight - 1) / 2)));
        // the runtime's pooling builder keeps one box per thread and one per core: here it allocated
        // a box for nearly every call (about 100 bytes each)
        Assert.That(allocated, Is.Zero, $"{allocated / (double)(Rounds * InFlight):F1} bytes per call");
    }
}
