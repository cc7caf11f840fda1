using System.Buffers;
using TcpTableServer.Protocols.Tcp;

namespace TcpTableServer.Tests.Protocols;

/// <summary>tcp_table request parsing, spec 1.2, 1.3, 1.7, 1.8 and S01-S12.</summary>
public class TcpCodecTests
{
    private static TcpRequest Parse(string line, bool allowPut = false) =>
        TcpCodec.ParseLine(Bytes.Of(line), allowPut);

    [TestCase("get user@example.com", "user@example.com", TestName = "V01_PlainKey")]
    [TestCase("get User@Example.COM", "User@Example.COM", TestName = "V03_KeyNotFoldedByCodec")]
    [TestCase("get john%20smith@example.com", "john smith@example.com", TestName = "V05_EncodedSpace")]
    [TestCase("get 100%25@example.com", "100%@example.com", TestName = "V06_EncodedPercent")]
    [TestCase("get J%C3%96RG@example.com", "J\u00c3\u0096RG@example.com", TestName = "V07_NonAscii")]
    [TestCase("get J%c3%96RG@example.com", "J\u00c3\u0096RG@example.com", TestName = "S01_LowerCaseHex")]
    [TestCase("get user@example.com\r", "user@example.com", TestName = "S03_CrStripped")]
    [TestCase("get ", "", TestName = "V61_EmptyKey")]
    [TestCase("get \r", "", TestName = "V61_EmptyKeyCrLf")]
    public void Get(string line, string key)
    {
        Assert.That(Parse(line), Is.EqualTo(TcpRequest.Get(key)));
    }

    [TestCase("GET user@example.com", TestName = "S04_UpperCaseCommand")]
    [TestCase("delete user@example.com", TestName = "S04_UnknownCommand")]
    [TestCase("get", TestName = "S05_NoSeparator")]
    [TestCase("get\r", TestName = "S05_NoSeparatorCrLf")]
    [TestCase("", TestName = "S05_EmptyLine")]
    [TestCase("get a%zz", TestName = "S06_BadEscape")]
    [TestCase("get a%4", TestName = "S06_ShortEscape")]
    [TestCase("get 100%", TestName = "S06_TrailingPercent")]
    [TestCase("get john smith@example.com", TestName = "S07_RawSpace")]
    [TestCase("get a\tb", TestName = "S07_RawTab")]
    [TestCase("get a%00b", TestName = "S08_DecodedNul")]
    [TestCase("put k v", TestName = "S11_PutDisabled")]
    public void BadRequest(string line)
    {
        Assert.That(Parse(line), Is.EqualTo(TcpRequest.Bad));
    }

    [TestCase("put User@Example.com a%20b", "User@Example.com", "a b", TestName = "S12_PutDecodesKeyAndValue")]
    [TestCase("put k8 v\r", "k8", "v", TestName = "S12_PutCrLf")]
    [TestCase("put k ", "k", "", TestName = "Spec1_8_PutEmptyValue")]
    public void PutEnabled(string line, string key, string value)
    {
        Assert.That(Parse(line, allowPut: true), Is.EqualTo(TcpRequest.Put(key, value)));
    }

    [TestCase("put k", TestName = "Spec1_8_PutWithoutValue")]
    [TestCase("put k a b", TestName = "Spec1_8_PutRawSpaceInValue")]
    [TestCase("put k a%zz", TestName = "Spec1_8_PutBadEscapeInValue")]
    [TestCase("put k%00 v", TestName = "Spec1_8_PutDecodedNulInKey")]
    [TestCase("PUT k v", TestName = "Spec1_8_PutCaseSensitive")]
    public void PutEnabledBadRequest(string line)
    {
        Assert.That(Parse(line, allowPut: true), Is.EqualTo(TcpRequest.Bad));
    }

    [Test]
    public void S02_PipelinedRequestsInOneBuffer()
    {
        var buffer = new ReadOnlySequence<byte>(Bytes.Of("get user@example.com\nget nobody@example.com\nget x"));
        var requests = new List<TcpRequest>();
        while (TcpCodec.TryRead(ref buffer, false, out var r) == TcpReadStatus.Request) requests.Add(r);
        Assert.That(requests, Is.EqualTo(new[] { TcpRequest.Get("user@example.com"), TcpRequest.Get("nobody@example.com") }));
        Assert.That(Bytes.Text(buffer), Is.EqualTo("get x"), "the incomplete line stays buffered");
    }

    [Test]
    public void Spec1_7_IncrementalFeedingOneByteAtATime()
    {
        byte[] stream = Bytes.Of("get J%c3%96RG@example.com\r\nGET x\nget \nput k v\n");
        var expected = new[]
        {
            TcpRequest.Get("J\u00c3\u0096RG@example.com"), TcpRequest.Bad, TcpRequest.Get(""), TcpRequest.Put("k", "v"),
        };
        var requests = new List<TcpRequest>();
        int consumed = 0;
        for (int available = 1; available <= stream.Length; available++)
        {
            var buffer = Bytes.OneBytePerSegment(stream.AsSpan(consumed, available - consumed));
            long before = buffer.Length;
            while (true)
            {
                var status = TcpCodec.TryRead(ref buffer, true, out var r);
                Assert.That(status, Is.Not.EqualTo(TcpReadStatus.LineTooLong));
                if (status == TcpReadStatus.NeedMoreData) break;
                requests.Add(r);
            }
            consumed += (int)(before - buffer.Length);
        }
        Assert.That(requests, Is.EqualTo(expected));
        Assert.That(consumed, Is.EqualTo(stream.Length));
    }

    [Test]
    public void S10_OverLongLineWithoutLf()
    {
        var buffer = new ReadOnlySequence<byte>(new byte[70000]);
        Assert.That(TcpCodec.TryRead(ref buffer, false, out _), Is.EqualTo(TcpReadStatus.LineTooLong));
    }

    [Test]
    public void S10_LimitIs64KiBIncludingLf()
    {
        string longest = "get " + new string('x', TcpCodec.MaxRequestLine - 5);
        var fits = new ReadOnlySequence<byte>(Bytes.Of(longest + "\n"));
        Assert.That(TcpCodec.TryRead(ref fits, false, out var r), Is.EqualTo(TcpReadStatus.Request));
        Assert.That(r.Key, Has.Length.EqualTo(TcpCodec.MaxRequestLine - 5));

        var tooLong = new ReadOnlySequence<byte>(Bytes.Of(longest + "x\n"));
        Assert.That(TcpCodec.TryRead(ref tooLong, false, out _), Is.EqualTo(TcpReadStatus.LineTooLong));

        var pending = new ReadOnlySequence<byte>(Bytes.Of(longest));
        Assert.That(TcpCodec.TryRead(ref pending, false, out _), Is.EqualTo(TcpReadStatus.NeedMoreData));
        var pendingFull = new ReadOnlySequence<byte>(Bytes.Of(longest + "x"));
        Assert.That(TcpCodec.TryRead(ref pendingFull, false, out _), Is.EqualTo(TcpReadStatus.LineTooLong));
    }

    [Test]
    public void Spec1_7_MultiSegmentLongLineDecodes()
    {
        string key = string.Concat(Enumerable.Repeat("ab%25", 300));
        var buffer = Bytes.OneBytePerSegment(Bytes.Of("get " + key + "\n"));
        Assert.That(TcpCodec.TryRead(ref buffer, false, out var r), Is.EqualTo(TcpReadStatus.Request));
        Assert.That(r, Is.EqualTo(TcpRequest.Get(string.Concat(Enumerable.Repeat("ab%", 300)))));
    }
}
