using System.Buffers;
using TcpTableServer.Protocols.Tcp;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Protocols;

/// <summary>tcp_table replies, spec 1.7, 1.8 and 3.12.</summary>
public class TcpRepliesTests
{
    private static string Lookup(LookupResult result)
    {
        var writer = new ArrayBufferWriter<byte>();
        int n = TcpReplies.WriteLookup(writer, result);
        Assert.That(n, Is.EqualTo(writer.WrittenCount));
        return Bytes.Text(writer.WrittenSpan);
    }

    private static string Update(UpdateResult result)
    {
        var writer = new ArrayBufferWriter<byte>();
        int n = TcpReplies.WriteUpdate(writer, result);
        Assert.That(n, Is.EqualTo(writer.WrittenCount));
        return Bytes.Text(writer.WrittenSpan);
    }

    [TestCase("alice@example.org", "200 alice@example.org\n", TestName = "V01_Found")]
    [TestCase("a b\t100%", "200 a%20b%09100%25\n", TestName = "V08_SpaceTabPercentEncoded")]
    [TestCase("line1\r\nline2", "200 line1%0D%0Aline2\n", TestName = "V09_CrLfEncoded")]
    [TestCase("caf\u00c3\u00a9", "200 caf%C3%A9\n", TestName = "V10_NonAsciiEncodedUpperHex")]
    [TestCase("", "200 \n", TestName = "V11_EmptyValue")]
    [TestCase("ab\0cd", "200 ab\n", TestName = "V12_TruncatedAtNul")]
    [TestCase("a\u007fb", "200 a%7Fb\n", TestName = "Spec1_3_DelEncoded")]
    public void Found(string value, string reply)
    {
        Assert.That(Lookup(LookupResult.Found(value)), Is.EqualTo(reply));
    }

    [Test]
    public void Spec3_12_ErrorStatusMapping()
    {
        Assert.That(Lookup(LookupResult.NotFound), Is.EqualTo("500 not-found\n"));
        Assert.That(Lookup(LookupResult.TempError), Is.EqualTo("400 temporary-failure\n"));
        Assert.That(Lookup(LookupResult.ConfigError), Is.EqualTo("400 configuration-error\n"));
    }

    [Test]
    public void Spec1_8_PutResultMapping()
    {
        Assert.That(Update(UpdateResult.Success), Is.EqualTo("200 ok\n"));
        Assert.That(Update(UpdateResult.Fail), Is.EqualTo("500 not-updated\n"));
        Assert.That(Update(UpdateResult.TempError), Is.EqualTo("400 temporary-failure\n"));
        Assert.That(Update(UpdateResult.ConfigError), Is.EqualTo("400 configuration-error\n"));
    }

    [Test]
    public void S09_EncodedValueOf4091BytesIsExactly4096()
    {
        string reply = Lookup(LookupResult.Found(new string('x', 4091)));
        Assert.That(reply, Has.Length.EqualTo(4096));
        Assert.That(reply, Is.EqualTo("200 " + new string('x', 4091) + "\n"));
    }

    [Test]
    public void S09_EncodedValueOf4092BytesIsTooLong()
    {
        Assert.That(Lookup(LookupResult.Found(new string('x', 4092))), Is.EqualTo("400 reply-too-long\n"));
    }

    [Test]
    public void S09_LimitAppliesToEncodedForm()
    {
        Assert.That(Lookup(LookupResult.Found(new string(' ', 1364))), Is.EqualTo("400 reply-too-long\n"));
        string ok = Lookup(LookupResult.Found(new string(' ', 1363) + "xx"));
        Assert.That(ok, Has.Length.EqualTo(4096));
    }

    [Test]
    public void S09_LimitAppliesAfterNulTruncation()
    {
        string reply = Lookup(LookupResult.Found("ab\0" + new string('x', 5000)));
        Assert.That(reply, Is.EqualTo("200 ab\n"));
    }

    [Test]
    public void Spec1_7_BadRequestReply()
    {
        var writer = new ArrayBufferWriter<byte>();
        TcpReplies.Write(writer, TcpReplies.BadRequest);
        Assert.That(Bytes.Text(writer.WrittenSpan), Is.EqualTo("400 bad-request\n"));
    }
}
