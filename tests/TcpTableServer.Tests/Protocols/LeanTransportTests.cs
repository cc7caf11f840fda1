using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using TcpTableServer.Protocols.Transport;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Protocols;

/// <summary>
/// The table listeners' socket transport (<see cref="LeanSocketTransport"/>) driven directly
/// over real loopback sockets: what a handler sees through the connection's pipes when the
/// peer half-closes mid-request, resets, is aborted while a read waits, sends a request in
/// many pieces, gets a reply larger than one buffer block, or reads slowly; and that an idle
/// connection holds no receive buffer (the point of the transport: docs/reliability.md).
/// </summary>
public sealed class LeanTransportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private sealed class Pair : IAsyncDisposable
    {
        public required IConnectionListener Listener { get; init; }
        public required LeanConnection Server { get; init; }
        public required Socket Client { get; init; }
        public PipeReader Input => Server.Transport.Input;
        public PipeWriter Output => Server.Transport.Output;

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Server.DisposeAsync();
            await Listener.DisposeAsync();
        }
    }

    private static async Task<Pair> Connect(long? maxRead = null)
    {
        var transport = new LeanSocketTransport(new LeanTransportOptions { MaxReadBufferSize = maxRead ?? 1024 * 1024 });
        var listener = await transport.BindAsync(new IPEndPoint(IPAddress.Loopback, 0));
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accepted = listener.AcceptAsync().AsTask();
        await client.ConnectAsync(listener.EndPoint);
        var server = (LeanConnection)(await accepted.WaitAsync(Timeout))!;
        return new Pair { Listener = listener, Server = server, Client = client };
    }

    /// <summary>Reads until <paramref name="count"/> bytes are buffered (or the stream ends); does not consume them.</summary>
    private static async Task<ReadResult> ReadAtLeast(PipeReader input, int count)
    {
        while (true)
        {
            ReadResult r = await input.ReadAsync().AsTask().WaitAsync(Timeout);
            if (r.Buffer.Length >= count || r.IsCompleted || r.IsCanceled) return r;
            input.AdvanceTo(r.Buffer.Start, r.Buffer.End);
        }
    }

    [Test]
    public async Task Transport_EndOfStreamMidRequest_ReturnsTheBytesThenCompletes()
    {
        await using var p = await Connect();
        await p.Client.SendAllAsync(Bytes.Of("24:aliases user@exa"));
        p.Client.Shutdown(SocketShutdown.Send);
        ReadResult r = await ReadAtLeast(p.Input, int.MaxValue);
        Assert.That(r.IsCompleted, Is.True, "the FIN completes the reader");
        Assert.That(Bytes.Text(r.Buffer.ToArray()), Is.EqualTo("24:aliases user@exa"), "bytes before the FIN are kept");
        p.Input.AdvanceTo(r.Buffer.End);
        Assert.That((await p.Input.ReadAsync()).IsCompleted, Is.True, "and stays completed");
        // the write side is still open after the client's half-close (S24: answer what was received)
        await p.Output.WriteAsync(Bytes.Of("ok"));
        Assert.That(Bytes.Text(await p.Client.ReceiveAtMostAsync(2)), Is.EqualTo("ok"));
    }

    [Test]
    public async Task Transport_PeerReset_FailsThePendingReadWithConnectionReset()
    {
        await using var p = await Connect();
        await p.Client.SendAllAsync(Bytes.Of("1:"));
        ReadResult first = await ReadAtLeast(p.Input, 2);
        p.Input.AdvanceTo(first.Buffer.Start, first.Buffer.End);
        var read = p.Input.ReadAsync().AsTask();
        p.Client.LingerState = new LingerOption(true, 0);
        p.Client.Close(); // RST
        var e = Assert.ThrowsAsync<ConnectionResetException>(async () => await read.WaitAsync(Timeout));
        Assert.That(e, Is.Not.Null);
        var flush = await p.Output.WriteAsync(Bytes.Of("late reply")).AsTask().WaitAsync(Timeout);
        for (int i = 0; i < 5 && !flush.IsCompleted; i++) flush = await p.Output.WriteAsync(Bytes.Of("late reply"));
        Assert.That(flush.IsCompleted, Is.True, "a write to a reset peer reports the peer gone, not an exception");
    }

    [Test]
    public async Task Transport_AbortWhileReadPending_FailsTheReadWithTheAbortAndClosesTheSocket()
    {
        await using var p = await Connect();
        var read = p.Input.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.That(read.IsCompleted, Is.False, "nothing was sent yet");
        var reason = new ConnectionAbortedException("stop timeout");
        p.Server.Abort(reason);
        var e = Assert.ThrowsAsync<ConnectionAbortedException>(async () => await read.WaitAsync(Timeout));
        Assert.That(e!.Message, Is.EqualTo("stop timeout"));
        Assert.That(await p.Client.ReceiveToEndAsync(), Is.Empty, "the client sees the connection closed");
        Assert.That((await p.Output.WriteAsync(Bytes.Of("x"))).IsCompleted, Is.True, "writes after an abort report the peer gone");
    }

    [Test]
    public async Task Transport_CancelPendingRead_ReturnsCanceledAndLaterBytesStillArrive()
    {
        await using var p = await Connect();
        var read = p.Input.ReadAsync().AsTask();
        p.Input.CancelPendingRead();
        ReadResult canceled = await read.WaitAsync(Timeout);
        Assert.That(canceled.IsCanceled, Is.True);
        p.Input.AdvanceTo(canceled.Buffer.Start, canceled.Buffer.End);
        await p.Client.SendAllAsync(Bytes.Of("hello"));
        ReadResult r = await ReadAtLeast(p.Input, 5);
        Assert.That(Bytes.Text(r.Buffer.ToArray()), Is.EqualTo("hello"), "the receive still in flight at the cancel delivers its bytes");
        p.Input.AdvanceTo(r.Buffer.End);
        // a cancel with no read pending makes the next read return canceled at once
        p.Input.CancelPendingRead();
        Assert.That((await p.Input.ReadAsync().AsTask().WaitAsync(Timeout)).IsCanceled, Is.True);
    }

    [Test]
    public async Task Transport_RequestInManySegments_IsReassembledIntoOneContiguousBuffer()
    {
        await using var p = await Connect();
        var request = new byte[20_000];
        for (int i = 0; i < request.Length; i++) request[i] = (byte)('a' + i % 26);
        var sending = Task.Run(async () =>
        {
            for (int off = 0; off < request.Length;)
            {
                int n = Math.Min(1 + off % 700, request.Length - off);
                await p.Client.SendAllAsync(request[off..(off + n)]);
                off += n;
                if (off % 7 == 0) await Task.Delay(1);
            }
        });
        ReadResult r = await ReadAtLeast(p.Input, request.Length);
        await sending;
        Assert.That(r.Buffer.IsSingleSegment, Is.True, "a request longer than a block is still one segment for the codecs");
        Assert.That(r.Buffer.ToArray(), Is.EqualTo(request));
        p.Input.AdvanceTo(r.Buffer.End);
    }

    /// <summary>
    /// A request near the limit (socketmap: 1 MiB) takes a buffer of the limit and one block,
    /// not the next power of two: 2 000 maximal requests held 3.0 GB when buffers doubled.
    /// </summary>
    [Test]
    public async Task Transport_LargeRequest_BufferStaysWithinTheLimitAndOneBlock()
    {
        const int limit = 1024 * 1024 + 4096 + 3;
        await using var p = await Connect(maxRead: limit);
        var request = new byte[limit - 10];
        var sending = p.Client.SendAllAsync(request);
        ReadResult r = await ReadAtLeast(p.Input, request.Length);
        await sending;
        Assert.That(r.Buffer.Length, Is.EqualTo(request.Length));
        Assert.That(p.Server.ReadBufferCapacity, Is.LessThanOrEqualTo(limit + 4096), "at most the limit and one block");
        p.Input.AdvanceTo(r.Buffer.End);
        Assert.That(p.Server.ReadBufferCapacity, Is.Zero, "dropped once consumed");
    }

    [Test]
    public async Task Transport_PartlyConsumedBuffer_KeepsTheRestAcrossReads()
    {
        await using var p = await Connect();
        await p.Client.SendAllAsync(Bytes.Of("first,second"));
        ReadResult r = await ReadAtLeast(p.Input, 12);
        p.Input.AdvanceTo(r.Buffer.GetPosition(6), r.Buffer.End);
        await p.Client.SendAllAsync(Bytes.Of(",third"));
        r = await ReadAtLeast(p.Input, 12);
        Assert.That(Bytes.Text(r.Buffer.ToArray()), Is.EqualTo("second,third"));
        p.Input.AdvanceTo(r.Buffer.End);
    }

    [Test]
    public async Task Transport_ReplyLargerThanABlock_ArrivesWhole()
    {
        await using var p = await Connect();
        var expected = new MemoryStream();
        for (int i = 0; i < 300; i++)
        {
            byte[] piece = Bytes.Of($"{i:D5}:" + new string((char)('A' + i % 26), 1000) + ",");
            p.Output.Write(piece);
            expected.Write(piece);
        }
        // one span larger than a block, as a reply writer asks for a long value
        Span<byte> big = p.Output.GetSpan(100_000);
        big[..100_000].Fill((byte)'z');
        p.Output.Advance(100_000);
        expected.Write(new byte[100_000].Select(_ => (byte)'z').ToArray());
        var flush = await p.Output.FlushAsync().AsTask().WaitAsync(Timeout);
        Assert.That(flush.IsCompleted, Is.False);
        Assert.That(await p.Client.ReceiveAtMostAsync((int)expected.Length), Is.EqualTo(expected.ToArray()));
    }

    [Test]
    public async Task Transport_SlowReader_FlushWaitsUntilTheClientReadsAndLosesNothing()
    {
        await using var p = await Connect();
        var payload = new byte[8 * 1024 * 1024];
        new Random(7).NextBytes(payload);
        for (int off = 0; off < payload.Length; off += 3000)
            p.Output.Write(payload.AsSpan(off, Math.Min(3000, payload.Length - off)));
        var flush = p.Output.FlushAsync().AsTask();
        await Task.Delay(200);
        Assert.That(flush.IsCompleted, Is.False, "8 MiB cannot all go into the kernel buffers of a reader that does not read");
        byte[] got = await p.Client.ReceiveAtMostAsync(payload.Length, TimeSpan.FromSeconds(30));
        Assert.That((await flush.WaitAsync(Timeout)).IsCompleted, Is.False);
        Assert.That(got.Length, Is.EqualTo(payload.Length));
        Assert.That(got.AsSpan().SequenceEqual(payload), Is.True, "every byte in order");
        // the connection still works after the blocked flush
        await p.Output.WriteAsync(Bytes.Of("next"));
        Assert.That(Bytes.Text(await p.Client.ReceiveAtMostAsync(4)), Is.EqualTo("next"));
    }

    [Test]
    public async Task Transport_IdleConnection_HoldsNoReceiveBuffer()
    {
        await using var p = await Connect();
        await p.Client.SendAllAsync(Bytes.Of("request"));
        ReadResult r = await ReadAtLeast(p.Input, 7);
        Assert.That(p.Server.HoldsReadBuffer, Is.True, "the request is in a pooled block");
        p.Input.AdvanceTo(r.Buffer.End);
        Assert.That(p.Server.HoldsReadBuffer, Is.False, "the block goes back once consumed");
        var waiting = p.Input.ReadAsync().AsTask();
        await Task.Delay(50);
        Assert.That(waiting.IsCompleted, Is.False);
        Assert.That(p.Server.HoldsReadBuffer, Is.False, "waiting for the next request holds no buffer (a zero-byte receive)");
        await p.Client.SendAllAsync(Bytes.Of("x"));
        Assert.That(Bytes.Text((await waiting.WaitAsync(Timeout)).Buffer.ToArray()), Is.EqualTo("x"));
    }

    [Test]
    public async Task Transport_ReadBufferLimit_StopsReceivingUntilCanceled()
    {
        await using var p = await Connect(maxRead: 10_000);
        await p.Client.SendAllAsync(new byte[30_000]);
        ReadResult r = await ReadAtLeast(p.Input, 10_000);
        Assert.That(r.Buffer.Length, Is.GreaterThanOrEqualTo(10_000).And.LessThan(30_000), "receiving stops past the limit");
        p.Input.AdvanceTo(r.Buffer.Start, r.Buffer.End); // nothing consumed: a codec still waiting for its frame
        var stalled = p.Input.ReadAsync().AsTask();
        await Task.Delay(100);
        Assert.That(stalled.IsCompleted, Is.False, "no more bytes are taken while the limit is exceeded");
        p.Input.CancelPendingRead(); // as an idle timeout or eviction ends it
        Assert.That((await stalled.WaitAsync(Timeout)).IsCanceled, Is.True);
    }

    [Test]
    public async Task Transport_DisposeAfterHandler_SendsUnflushedRepliesThenFin()
    {
        await using var p = await Connect();
        p.Output.Write(Bytes.Of("last answer"));
        await p.Server.DisposeAsync();
        Assert.That(Bytes.Text(await p.Client.ReceiveToEndAsync()), Is.EqualTo("last answer"));
    }

    [Test]
    public async Task Transport_UnixSocket_ServesAndReportsNoIpEndPoint()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lean-{Guid.NewGuid():N}.sock");
        var listener = await new LeanSocketTransport(new LeanTransportOptions()).BindAsync(new UnixDomainSocketEndPoint(path));
        try
        {
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            var accepted = listener.AcceptAsync().AsTask();
            await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
            await using var server = (await accepted.WaitAsync(Timeout))!;
            Assert.That(server.RemoteEndPoint, Is.Not.InstanceOf<IPEndPoint>());
            await client.SendAllAsync(Bytes.Of("ping"));
            ReadResult r = await ReadAtLeast(server.Transport.Input, 4);
            server.Transport.Input.AdvanceTo(r.Buffer.End);
            await server.Transport.Output.WriteAsync(Bytes.Of("pong"));
            Assert.That(Bytes.Text(await client.ReceiveAtMostAsync(4)), Is.EqualTo("pong"));
        }
        finally
        {
            await listener.DisposeAsync();
            File.Delete(path);
        }
    }
}
