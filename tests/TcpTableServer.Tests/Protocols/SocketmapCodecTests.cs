using System.Buffers;
using TcpTableServer.Protocols.Socketmap;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Protocols;

/// <summary>socketmap request split and replies, spec 2.3, 2.4, 2.6, 3.12.</summary>
public class SocketmapCodecTests
{
    private static string Lookup(LookupResult result)
    {
        var writer = new ArrayBufferWriter<byte>();
        int n = SocketmapReplies.WriteLookup(writer, result);
        Assert.That(n, Is.EqualTo(writer.WrittenCount));
        return Bytes.Text(writer.WrittenSpan);
    }

    [TestCase("aliases user@example.com", "aliases", "user@example.com", TestName = "V01_NameAndKey")]
    [TestCase("aliases john smith@example.com ", "aliases", "john smith@example.com ", TestName = "S22_SplitAtFirstSpace")]
    [TestCase("aliases a\nb", "aliases", "a\nb", TestName = "S23_KeyWithLf")]
    [TestCase("plain ", "plain", "", TestName = "V61_EmptyKey")]
    [TestCase(" key", "", "key", TestName = "Spec2_6_EmptyName")]
    public void Split(string payload, string name, string key)
    {
        Assert.That(SocketmapRequest.TryParse(Bytes.Of(payload), out var request), Is.True);
        Assert.That(Bytes.Text(request.MapName), Is.EqualTo(name));
        Assert.That(request.KeyOctets, Is.EqualTo(key));
    }

    [TestCase("aliases", TestName = "S15_NoSpace")]
    [TestCase("", TestName = "S16_EmptyPayload")]
    public void BadRequest(string payload)
    {
        Assert.That(SocketmapRequest.TryParse(Bytes.Of(payload), out _), Is.False);
    }

    [TestCase("alice@example.org", "20:OK alice@example.org,", TestName = "V01_Found")]
    [TestCase("a b\t100%", "11:OK a b\t100%,", TestName = "V08_RawSpaceTabPercent")]
    [TestCase("line1\r\nline2", "15:OK line1\r\nline2,", TestName = "V09_RawCrLf")]
    [TestCase("caf\u00c3\u00a9", "8:OK caf\u00c3\u00a9,", TestName = "V10_RawNonAscii")]
    [TestCase("", "3:OK ,", TestName = "V11_EmptyValueKeepsSpace")]
    [TestCase("ab\0cd", "5:OK ab,", TestName = "V12_TruncatedAtNul")]
    public void Found(string value, string wire)
    {
        Assert.That(Lookup(LookupResult.Found(value)), Is.EqualTo(wire));
    }

    [Test]
    public void Spec3_12_ErrorStatusMapping()
    {
        Assert.That(Lookup(LookupResult.NotFound), Is.EqualTo("9:NOTFOUND ,"));
        Assert.That(Lookup(LookupResult.TempError), Is.EqualTo("22:TEMP temporary-failure,"));
        Assert.That(Lookup(LookupResult.ConfigError), Is.EqualTo("24:PERM configuration-error,"));
    }

    [Test]
    public void S21_PayloadOfExactly100000IsSent()
    {
        string reply = Lookup(LookupResult.Found(new string('x', 99997)));
        Assert.That(reply, Is.EqualTo("100000:OK " + new string('x', 99997) + ","));
    }

    [Test]
    public void S21_PayloadOver100000IsReplyTooLong()
    {
        Assert.That(Lookup(LookupResult.Found(new string('x', 99998))), Is.EqualTo("19:TEMP reply-too-long,"));
    }

    [Test]
    public void Spec2_6_FixedRepliesAreWellFormedNetstrings()
    {
        var expected = new Dictionary<string, byte[]>
        {
            ["NOTFOUND "] = SocketmapReplies.NotFound.ToArray(),
            ["TEMP temporary-failure"] = SocketmapReplies.TemporaryFailure.ToArray(),
            ["PERM configuration-error"] = SocketmapReplies.ConfigurationError.ToArray(),
            ["PERM unknown-map"] = SocketmapReplies.UnknownMap.ToArray(),
            ["PERM bad-request"] = SocketmapReplies.BadRequest.ToArray(),
            ["TEMP reply-too-long"] = SocketmapReplies.ReplyTooLong.ToArray(),
        };
        foreach (var (payload, wire) in expected)
        {
            var buffer = new ReadOnlySequence<byte>(wire);
            Assert.That(Netstring.TryRead(ref buffer, 100_000, out var p, out _), Is.True, payload);
            Assert.That(Bytes.Text(p), Is.EqualTo(payload));
            Assert.That(buffer.IsEmpty, Is.True, "no trailing bytes (S24)");
        }
    }
}
