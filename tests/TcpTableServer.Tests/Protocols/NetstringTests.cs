using System.Buffers;
using TcpTableServer.Protocols.Socketmap;

namespace TcpTableServer.Tests.Protocols;

/// <summary>Netstring framing, spec 2.2, 2.6 and S16-S20.</summary>
public class NetstringTests
{
    private const int Limit = 1024 * 1024;

    private static (bool Ok, string Payload, NetstringError Error, string Remaining) Read(string input, int limit = Limit)
    {
        var buffer = new ReadOnlySequence<byte>(Bytes.Of(input));
        bool ok = Netstring.TryRead(ref buffer, limit, out var payload, out var error);
        return (ok, Bytes.Text(payload), error, Bytes.Text(buffer));
    }

    [TestCase("24:aliases user@example.com,", "aliases user@example.com", TestName = "V01_Request")]
    [TestCase("0024:aliases user@example.com,", "aliases user@example.com", TestName = "S17_LeadingZeros")]
    [TestCase("0:,", "", TestName = "S16_EmptyPayloadFrames")]
    [TestCase(":,", "", TestName = "Spec2_2_NoDigitsMeansZero")]
    [TestCase("11:aliases a\nb,", "aliases a\nb", TestName = "S23_PayloadWithLf")]
    public void Frames(string input, string payload)
    {
        var r = Read(input);
        Assert.That(r.Ok, Is.True);
        Assert.That(r.Payload, Is.EqualTo(payload));
        Assert.That(r.Remaining, Is.Empty);
    }

    [TestCase(" 24:aliases user@example.com,", TestName = "S18_LeadingSpace")]
    [TestCase("+24:aliases user@example.com,", TestName = "S18_Sign")]
    [TestCase("-24:aliases user@example.com,", TestName = "S18_Minus")]
    [TestCase("24 :aliases user@example.com,", TestName = "S18_SpaceBeforeColon")]
    [TestCase("x:aliases user@example.com,", TestName = "S18_Letter")]
    [TestCase("24:aliases user@example.com;", TestName = "S18_WrongTerminator")]
    [TestCase("3:abcd,", TestName = "S18_PayloadLongerThanLength")]
    [TestCase("\r\n24:aliases user@example.com,", TestName = "S18_LeadingCrLf")]
    [TestCase("000000000000000000000:,", TestName = "Spec2_2_TooManyLengthDigits")]
    public void FormatErrors(string input)
    {
        var r = Read(input);
        Assert.That(r.Ok, Is.False);
        Assert.That(r.Error, Is.EqualTo(NetstringError.Format));
    }

    [TestCase("2000000:", TestName = "S19_OverLimitWithoutPayload")]
    [TestCase("2000000", TestName = "S19_OverLimitBeforeColon")]
    [TestCase("1048577:", TestName = "S19_OneOverLimit")]
    [TestCase("99999999999999999999999:", TestName = "S19_Overflow")]
    public void TooLong(string input)
    {
        var r = Read(input);
        Assert.That(r.Ok, Is.False);
        Assert.That(r.Error, Is.EqualTo(NetstringError.TooLong));
    }

    [TestCase("", TestName = "Spec2_2_Empty")]
    [TestCase("24", TestName = "Spec2_2_DigitsOnly")]
    [TestCase("1048576:", TestName = "S19_ExactlyLimitWaitsForPayload")]
    [TestCase("24:aliases user", TestName = "S18_PayloadIncomplete")]
    [TestCase("24:aliases user@example.com", TestName = "Spec2_2_TerminatorMissing")]
    public void NeedsMoreData(string input)
    {
        var r = Read(input);
        Assert.That(r.Ok, Is.False);
        Assert.That(r.Error, Is.EqualTo(NetstringError.None));
        Assert.That(r.Remaining, Is.EqualTo(input), "buffer untouched");
    }

    [Test]
    public void S20_PipelinedFramesFedOneByteAtATime()
    {
        byte[] stream = Bytes.Of("24:aliases user@example.com,22:plain user@example.com,0:,6:plain ,");
        var payloads = new List<string>();
        int consumed = 0;
        for (int available = 1; available <= stream.Length; available++)
        {
            var buffer = Bytes.OneBytePerSegment(stream.AsSpan(consumed, available - consumed));
            long before = buffer.Length;
            while (Netstring.TryRead(ref buffer, Limit, out var payload, out var error))
                payloads.Add(Bytes.Text(payload));
            consumed += (int)(before - buffer.Length);
        }
        Assert.That(payloads, Is.EqualTo(new[] { "aliases user@example.com", "plain user@example.com", "", "plain " }));
        Assert.That(consumed, Is.EqualTo(stream.Length));
    }

    [Test]
    public void S20_TwoFramesInOneBuffer()
    {
        var buffer = new ReadOnlySequence<byte>(Bytes.Of("24:aliases user@example.com,22:plain user@example.com,"));
        Assert.That(Netstring.TryRead(ref buffer, Limit, out var first, out _), Is.True);
        Assert.That(Netstring.TryRead(ref buffer, Limit, out var second, out _), Is.True);
        Assert.That(Bytes.Text(first), Is.EqualTo("aliases user@example.com"));
        Assert.That(Bytes.Text(second), Is.EqualTo("plain user@example.com"));
        Assert.That(buffer.IsEmpty, Is.True);
    }

    [TestCase("", "0:,")]
    [TestCase("OK alice@example.org", "20:OK alice@example.org,")]
    public void Spec2_2_Write(string payload, string wire)
    {
        var writer = new ArrayBufferWriter<byte>();
        int n = Netstring.Write(writer, Bytes.Of(payload));
        Assert.That(Bytes.Text(writer.WrittenSpan), Is.EqualTo(wire));
        Assert.That(n, Is.EqualTo(wire.Length));
    }
}
