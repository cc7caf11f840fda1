using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace TcpTableServer.Protocols;

/// <summary>
/// A transport connection admitted by the <see cref="ConnectionGate"/>: everything is the
/// transport's own, except that disposing it (Kestrel does once the handler has returned and
/// the socket is closed) gives its place back to the gate.
/// </summary>
public sealed class AdmittedConnection(ConnectionContext inner, ConnectionGate gate, ListenerGate listener)
    : ConnectionContext
{
    private int _released;

    /// <summary>The listener that admitted the connection (handlers log and track through it).</summary>
    public ListenerGate Listener => listener;

    public override string ConnectionId { get => inner.ConnectionId; set => inner.ConnectionId = value; }
    public override IFeatureCollection Features => inner.Features;
    public override IDictionary<object, object?> Items { get => inner.Items; set => inner.Items = value; }
    public override IDuplexPipe Transport { get => inner.Transport; set => inner.Transport = value; }
    public override CancellationToken ConnectionClosed { get => inner.ConnectionClosed; set => inner.ConnectionClosed = value; }
    public override EndPoint? LocalEndPoint { get => inner.LocalEndPoint; set => inner.LocalEndPoint = value; }
    public override EndPoint? RemoteEndPoint { get => inner.RemoteEndPoint; set => inner.RemoteEndPoint = value; }

    public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

    public override void Abort() => inner.Abort();

    public override async ValueTask DisposeAsync()
    {
        try
        {
            await inner.DisposeAsync();
        }
        finally
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                gate.Release(listener);
                MemoryTrim.ConnectionClosed();
            }
        }
    }
}
