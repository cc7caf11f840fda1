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
    [TestCase("000000000000000000005:hello,", "hello", TestName = "S17_TwentyOneDigitLength")]
    [TestCase("000000000000000000000:,", "", TestName = "S17_TwentyOneZerosAreLengthZero")]
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
    [TestCase("0000000000000000000000000x:", TestName = "S18_LetterAfterManyZeros")]
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
    [TestCase("0000000000000000000000001048577:", TestName = "S19_LeadingZerosDoNotHideTheValue")]
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

    [TestCase("000", "", TestName = "S17_OnlyZerosSoFar")]
    [TestCase("00024", "24", TestName = "S17_ZerosThenDigits")]
    [TestCase("0024:aliases user", "24:aliases user", TestName = "S17_ZerosThenIncompletePayload")]
    [TestCase("0:", ":", TestName = "S17_ZeroLengthAwaitingComma")]
    public void S17_LeadingZerosOfAnIncompleteFrameAreTakenOff(string input, string remaining)
    {
        var r = Read(input);
        Assert.That(r.Ok, Is.False);
        Assert.That(r.Error, Is.EqualTo(NetstringError.None));
        Assert.That(r.Remaining, Is.EqualTo(remaining));
    }

    [Test]
    public void S17_MillionLeadingZerosInOneBuffer()
    {
        var r = Read(new string('0', 1_000_000) + "24:aliases user@example.com,");
        Assert.That(r.Ok, Is.True);
        Assert.That(r.Payload, Is.EqualTo("aliases user@example.com"));
        Assert.That(r.Remaining, Is.Empty);
    }

    /// <summary>
    /// S17 with a connection's read loop (take what the reader consumed, keep the rest): two
    /// MiB of zeros in 4 KiB reads never pile up, so a client cannot make the server buffer
    /// more than one read of them, and the frame after them is read as usual.
    /// </summary>
    [Test]
    public void S17_ZerosStreamedInReadsAreNotBuffered()
    {
        byte[] stream = Bytes.Of(new string('0', 2 * Limit) + "24:aliases user@example.com,");
        const int Read = 4096;
        byte[] held = [];
        var payloads = new List<string>();
        long largestHeld = 0;
        for (int at = 0; at < stream.Length; at += Read)
        {
            byte[] data = [.. held, .. stream.AsSpan(at, Math.Min(Read, stream.Length - at))];
            largestHeld = Math.Max(largestHeld, data.Length);
            var buffer = new ReadOnlySequence<byte>(data);
            while (Netstring.TryRead(ref buffer, Limit, out var payload, out var error))
                payloads.Add(Bytes.Text(payload));
            Assert.That(buffer.Length, Is.LessThan(Read), "zeros are taken off, not held");
            held = buffer.ToArray();
        }
        Assert.That(payloads, Is.EqualTo(new[] { "aliases user@example.com" }));
        Assert.That(held, Is.Empty);
        Assert.That(largestHeld, Is.LessThan(2 * Read));
    }

    [Test]
    public void S20_PipelinedFramesFedOneByteAtATime()
    {
        byte[] stream = Bytes.Of("24:aliases user@example.com,22:plain user@example.com,0:,6:plain ,0006:plain ,");
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
        Assert.That(payloads, Is.EqualTo(new[] { "aliases user@example.com", "plain user@example.com", "", "plain ", "plain " }));
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
