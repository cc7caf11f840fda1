using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace TcpTableServer.Async;

/// <summary>
/// The async method builder of the request path (no allocation per request on the hit
/// path). Like the runtime's <see cref="PoolingAsyncValueTaskMethodBuilder{TResult}"/>: a call that
/// completes synchronously allocates nothing, a call that suspends keeps its state machine in a
/// reusable box that is recycled when the caller takes the result. The difference is the pool:
/// the runtime keeps one box per thread and one per core, so with many lookups in flight nearly
/// every suspended call gets a new box (one per async layer of a request, docs/benchmarks.md);
/// here suspended calls share a bounded pool per method
/// (<see cref="BoxPoolCapacity"/> boxes). Semantics are the runtime's: the result may be awaited
/// once; continuations run on the thread that completes the call.
/// Use: <c>[AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder&lt;&gt;))]</c> on an
/// <c>async ValueTask&lt;T&gt;</c> method.
/// </summary>
public struct PooledValueTaskMethodBuilder<TResult>
{
    /// <summary>Boxes kept per async method: enough for the calls of a busy server in flight at once.</summary>
    public const int BoxPoolCapacity = 256;

    private PooledValueTaskSource<TResult>? _box;   // set at the first suspension
    private Exception? _exception;                  // a synchronous failure
    private TResult _result;                        // a synchronous result

    public static PooledValueTaskMethodBuilder<TResult> Create() => default;

    public readonly ValueTask<TResult> Task =>
        _box is { } box ? new ValueTask<TResult>(box, box.Version)
        : _exception is { } e ? ValueTask.FromException<TResult>(e)
        : new ValueTask<TResult>(_result);

    /// <summary>Runs the state machine to its first await (the runtime's start: execution context saved and restored).</summary>
    public readonly void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine =>
        AsyncValueTaskMethodBuilder<TResult>.Create().Start(ref stateMachine);

    /// <summary>Legacy: compilers no longer box the state machine themselves.</summary>
    public readonly void SetStateMachine(IAsyncStateMachine stateMachine) => ArgumentNullException.ThrowIfNull(stateMachine);

    public void SetResult(TResult result)
    {
        if (_box is null) _result = result;
        else _box.SetResult(result);
    }

    public void SetException(Exception exception)
    {
        if (_box is null) _exception = exception;
        else _box.SetException(exception);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private StateMachineBox<TResult, TStateMachine> GetBox<TStateMachine>(ref TStateMachine stateMachine)
        where TStateMachine : IAsyncStateMachine
    {
        var context = ExecutionContext.Capture();
        if (_box is StateMachineBox<TResult, TStateMachine> box)
        {
            box.Context = context;
            return box;
        }
        box = StateMachineBox<TResult, TStateMachine>.Rent();
        _box = box;   // before the copy below, so that the boxed state machine's builder points at its box
        box.StateMachine = stateMachine;
        box.Context = context;
        return box;
    }
}

/// <summary>The awaitable side of a box: a <see cref="ManualResetValueTaskSourceCore{TResult}"/> recycled on GetResult.</summary>
internal abstract class PooledValueTaskSource<TResult> : IValueTaskSource<TResult>
{
    private ManualResetValueTaskSourceCore<TResult> _core;   // continuations run inline (RunContinuationsAsynchronously false)

    public short Version => _core.Version;

    public void SetResult(TResult result) => _core.SetResult(result);

    public void SetException(Exception exception) => _core.SetException(exception);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Takes the result (or exception) and recycles the box: the result can be taken once.</summary>
    public TResult GetResult(short token)
    {
        // a result taken too early (or with a stale token) must not recycle a box whose call is still running
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
            throw new InvalidOperationException("The asynchronous call has not completed.");
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Recycle();
        }
    }

    protected abstract void Recycle();
}

/// <summary>One suspended call of one async method: its state machine, its execution context, its pool.</summary>
internal sealed class StateMachineBox<TResult, TStateMachine> : PooledValueTaskSource<TResult>
    where TStateMachine : IAsyncStateMachine
{
    private static readonly BoundedPool<StateMachineBox<TResult, TStateMachine>> Pool =
        new(PooledValueTaskMethodBuilder<TResult>.BoxPoolCapacity);

    private static readonly ContextCallback MoveNextInContext =
        static box => ((StateMachineBox<TResult, TStateMachine>)box!).StateMachine.MoveNext();

    public TStateMachine StateMachine = default!;
    public ExecutionContext? Context;

    /// <summary>The continuation handed to awaiters: one delegate per box, allocated once.</summary>
    public readonly Action MoveNextAction;

    private StateMachineBox() => MoveNextAction = MoveNext;

    public static StateMachineBox<TResult, TStateMachine> Rent() => Pool.TryRent() ?? new();

    private void MoveNext()
    {
        if (Context is { } context) ExecutionContext.Run(context, MoveNextInContext, this);
        else StateMachine.MoveNext();   // flow was suppressed when the call suspended
    }

    protected override void Recycle()
    {
        StateMachine = default!;   // drop the references the finished call held
        Context = null;
        Pool.Return(this);
    }
}
