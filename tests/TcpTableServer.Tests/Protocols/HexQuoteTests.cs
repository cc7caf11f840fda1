using TcpTableServer.Protocols.Tcp;

namespace TcpTableServer.Tests.Protocols;

/// <summary>%XX quoting, spec 1.3.</summary>
public class HexQuoteTests
{
    [Test]
    public void Spec1_3_EveryByteEncodesPerClientRuleAndRoundTrips()
    {
        for (int b = 1; b < 256; b++)
        {
            string octets = ((char)b).ToString();
            var dest = new byte[3];
            int n = HexQuote.Encode(octets, dest);
            bool literal = b is >= 0x21 and <= 0x7E && b != '%';
            if (literal)
                Assert.That(dest[..n], Is.EqualTo(new[] { (byte)b }), $"byte {b:X2}");
            else
                Assert.That(Bytes.Text(dest.AsSpan(0, n)), Is.EqualTo($"%{b:X2}"), $"byte {b:X2}");
            Assert.That(HexQuote.EncodedLength(octets), Is.EqualTo(n));

            var back = new byte[3];
            Assert.That(HexQuote.TryDecode(dest.AsSpan(0, n), back, out int w), Is.True);
            Assert.That(back[..w], Is.EqualTo(new[] { (byte)b }));
        }
    }

    [TestCase("J%c3%96RG", "J\u00c3\u0096RG", TestName = "S01_LowerCaseHexDigits")]
    [TestCase("J%C3%96RG", "J\u00c3\u0096RG", TestName = "V07_UpperCaseHexDigits")]
    [TestCase("100%25@example.com", "100%@example.com", TestName = "V06_PercentEncoded")]
    [TestCase("a%0d%0Ab", "a\r\nb", TestName = "Spec1_3_MixedCaseEscapes")]
    [TestCase("", "", TestName = "V61_Empty")]
    public void Decode(string encoded, string expected)
    {
        var dest = new byte[encoded.Length];
        Assert.That(HexQuote.TryDecode(Bytes.Of(encoded), dest, out int w), Is.True);
        Assert.That(Bytes.Text(dest.AsSpan(0, w)), Is.EqualTo(expected));
    }

    [TestCase("a%zz", TestName = "S06_NonHexEscape")]
    [TestCase("a%4", TestName = "S06_TruncatedEscape")]
    [TestCase("100%", TestName = "S06_TrailingPercent")]
    [TestCase("a%00b", TestName = "S08_DecodedNul")]
    [TestCase("a b", TestName = "S07_RawSpace")]
    [TestCase("a\tb", TestName = "S07_RawTab")]
    [TestCase("a\0b", TestName = "S08_RawNul")]
    public void DecodeRejects(string encoded)
    {
        var dest = new byte[encoded.Length];
        Assert.That(HexQuote.TryDecode(Bytes.Of(encoded), dest, out _), Is.False);
    }
}
