using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// A transport that hands out the given connections, one per accept, then ends (accept returns
/// null): drives <see cref="TcpTableServer.Protocols.GatedListenerFactory"/> with clients at
/// any remote address, which a loopback socket cannot have.
/// </summary>
internal sealed class FakeTransport(params FakeTransport.Connection[] connections) : IConnectionListenerFactory
{
    private readonly Queue<Connection> _pending = new(connections);

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult<IConnectionListener>(new Listener(endpoint, _pending));

    /// <summary>A client connection from <paramref name="remote"/> that records whether it was aborted.</summary>
    public sealed class Connection(EndPoint remote) : ConnectionContext
    {
        public Connection(string address) : this(new IPEndPoint(IPAddress.Parse(address), 40000)) { }

        /// <summary>Closed by the server (Abort).</summary>
        public bool Aborted { get; private set; }

        public override string ConnectionId { get; set; } = Guid.NewGuid().ToString();
        public override IFeatureCollection Features { get; } = new FeatureCollection();
        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
        public override IDuplexPipe Transport { get; set; } = new Duplex(new Pipe());
        public override EndPoint? RemoteEndPoint { get; set; } = remote;
        public override void Abort(ConnectionAbortedException abortReason) => Aborted = true;
    }

    private sealed class Listener(EndPoint endpoint, Queue<Connection> pending) : IConnectionListener
    {
        public EndPoint EndPoint => endpoint;

        public ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default) =>
            ValueTask.FromResult<ConnectionContext?>(pending.TryDequeue(out var c) ? c : null);

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class Duplex(Pipe pipe) : IDuplexPipe
    {
        public PipeReader Input => pipe.Reader;
        public PipeWriter Output => pipe.Writer;
    }
}
