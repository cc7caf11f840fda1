using System.Buffers;
using TcpTableServer.Fuzz;
using TcpTableServer.Fuzz.Targets;
using TcpTableServer.Memcache;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Tests.Protocols;

namespace TcpTableServer.Tests.Fuzz;

/// <summary>
/// Inputs scripts/fuzz found crashing or breaking an invariant, kept byte for byte with the
/// behaviour the spec requires for them, and replayed through their whole fuzz target too.
/// </summary>
public class FuzzRegressionTests
{
    /// <summary>
    /// Found by the netstring target on e1414c4 (seed 1, within 100 000 inputs): a 21-digit
    /// length after a 16-digit one. S17: leading zeros are accepted, so both frames are read;
    /// the old reader closed the connection at the 21st digit.
    /// </summary>
    [Test]
    public void Netstring_S17_TwentyOneDigitLengthAfterAFrame()
    {
        byte[] input = Bytes.Of("0000000000000005:hello,000000000000000000005:hello,");
        foreach (var buffer in new[] { new ReadOnlySequence<byte>(input), Bytes.OneBytePerSegment(input) })
        {
            var rest = buffer;
            Assert.That(Netstring.TryRead(ref rest, SocketmapConnectionHandler.MaxRequestPayload, out var first, out _), Is.True);
            Assert.That(Netstring.TryRead(ref rest, SocketmapConnectionHandler.MaxRequestPayload, out var second, out var error), Is.True, error.ToString());
            Assert.That(Bytes.Text(first), Is.EqualTo("hello"));
            Assert.That(Bytes.Text(second), Is.EqualTo("hello"));
            Assert.That(rest.IsEmpty, Is.True);
        }
        AssertTargetHolds(new NetstringTarget(), input);
    }

    /// <summary>
    /// Found by the netstring target on e1414c4: a 21-digit length whose payload has not fully
    /// arrived. S17: the server waits for the rest (no error); the old reader gave a format error.
    /// </summary>
    [Test]
    public void Netstring_S17_IncompleteFrameWithTwentyOneDigitLengthWaits()
    {
        byte[] input = Bytes.Of("000000000000000000005:hel");
        var buffer = new ReadOnlySequence<byte>(input);
        Assert.That(Netstring.TryRead(ref buffer, SocketmapConnectionHandler.MaxRequestPayload, out _, out var error), Is.False);
        Assert.That(error, Is.EqualTo(NetstringError.None));
        Assert.That(Bytes.Text(buffer), Is.EqualTo("5:hel"), "only the zeros are taken off");
        AssertTargetHolds(new NetstringTarget(), input);
    }

    /// <summary>
    /// Found by the memcached-reply target (seed 1, within 200 000 inputs) once it also tried
    /// data_size_limit = 2147483647, a legal setting (minimum 1, no maximum): a VALUE line
    /// declaring a length near int.MaxValue overflowed "length + 2" and the parser threw
    /// IndexOutOfRangeException, which escaped the pipeline's read loop. Spec 3.8: 0 &lt;= n
    /// &lt;= data_size_limit means "read exactly n bytes then CR LF": the parser waits for them,
    /// and when the connection ends first (eof) the attempt fails with an I/O error.
    /// </summary>
    [TestCase(2147483647)]
    [TestCase(2147483646)]
    public void MemcachedReply_Spec3_8_DeclaredLengthNearIntMaxWaitsThenFails(int declared)
    {
        byte[] input = Bytes.Of($"VALUE k 0 {declared}\r\nhello\n9ND\r\nVAMUE \xaf\rk 0 2147483647\r\nhel)lo\nEND\r\n\n");
        var parser = new MemcachedReplyParser(1024, int.MaxValue, "memcache:/etc/postfix/aliases.cf");

        Assert.That(parser.TryParse(MemcachedCommand.Get, input, eof: false, out _, out _), Is.EqualTo(ParseStatus.NeedMoreData));
        Assert.That(parser.TryParse(MemcachedCommand.Get, input, eof: true, out Reply reply, out _), Is.EqualTo(ParseStatus.Complete));
        Assert.That(reply.Verdict, Is.EqualTo(Verdict.Failed));
        Assert.That(reply.Value, Is.Null);
        Assert.That(reply.Warning, Is.EqualTo("/etc/postfix/aliases.cf: EOF receiving memcache server reply"));
        AssertTargetHolds(new MemcachedReplyTarget(), input);
    }

    /// <summary>Every invariant of the target, for many limits and segment splits of the input.</summary>
    private static void AssertTargetHolds(FuzzTarget target, byte[] input)
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var (error, _) = FuzzRunner.Replay(target, input, seed);
            Assert.That(error, Is.Null, () => $"input seed {seed}: {FuzzRunner.Describe(error!)}");
        }
    }
}
