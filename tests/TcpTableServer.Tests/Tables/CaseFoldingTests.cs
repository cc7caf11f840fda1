using System.Text;
using System.Text.Unicode;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// Spec 3.3 UTF-8 mode: <see cref="CaseFolding"/> is Postfix's casefold() (ICU full case
/// folding, U_FOLD_CASE_DEFAULT) and valid_utf8_stringz() over octet strings. The expected
/// foldings are ICU's (CaseFolding.txt status C and F); the end-to-end comparison with Postfix
/// itself is in Interop/Smtputf8InteropTests.
/// </summary>
public sealed class CaseFoldingTests
{
    [TestCase("ñAndÚ170@eXAmplE.CoM", "ñandú170@example.com")]
    [TestCase("JÖRG@Example.COM", "jörg@example.com")]
    [TestCase("Straße", "strasse")]                        // F: ß -> ss
    [TestCase("STRAẞE", "strasse")]                        // F: U+1E9E capital sharp s -> ss
    [TestCase("İstanbul", "i\u0307stanbul")]               // F: U+0130 -> i + combining dot (no Turkic rules)
    [TestCase("ISTANBUL ıstanbul", "istanbul ıstanbul")]  // dotless ı has no folding
    [TestCase("ΣΊΣΥΦΟΣ σίσυφος", "σίσυφοσ σίσυφοσ")]     // final sigma folds to σ
    [TestCase("ꮳꮃꭹ ᏣᎳᎩ", "ᏣᎳᎩ ᏣᎳᎩ")]                     // Cherokee folds to the capitals
    [TestCase("ᏸᏹ", "ᏰᏱ")]
    [TestCase("ﬃ", "ffi")]                               // F: ligature expands
    [TestCase("\u212Aelvin \u212B", "kelvin å")]           // Kelvin and Angstrom signs
    [TestCase("ΐ", "\u03b9\u0308\u0301")]                  // F: one character becomes three
    [TestCase("ǅ Ǆ ǆ", "ǆ ǆ ǆ")]
    [TestCase("𐐀𐐨", "𐐨𐐨")]                               // Deseret, outside the BMP
    [TestCase("user@example.com", "user@example.com")]
    public void S3_3_Fold_IsIcuFullCaseFolding(string text, string folded) =>
        Assert.That(CaseFolding.Fold(Octets.FromUtf8(text)), Is.EqualTo(Octets.FromUtf8(folded)));

    [Test]
    public void S3_3_Fold_AsciiOnly_FoldsAToZ_WithoutAllocating()
    {
        Assert.That(CaseFolding.Fold("User@Example.COM\x7f"), Is.EqualTo("user@example.com\x7f"));
        const string key = "user@example.com";
        CaseFolding.Fold(key);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            _ = CaseFolding.Fold(key);
            _ = CaseFolding.IsValidUtf8(key);
        }
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [Test]
    public void S3_3_Fold_BytesThatAreNotUtf8_AreCopiedAsTheyAre()
    {
        // what ICU's ucasemap_utf8FoldCase does (Postfix's casefold comment); only a domain
        // pattern can reach it: keys that are not UTF-8 are skipped before folding
        Assert.That(CaseFolding.Fold("\u00c3\u0080B\u00ff\u00c3"), Is.EqualTo("\u00c3\u00a0b\u00ff\u00c3"));
    }

    [Test]
    public void S3_3_Fold_IsIdempotent_ForEveryCodePointOfPlanes0And1()
    {
        // the backup's own UTF-8 layer folds the memcache layer's folded key again (as Postfix does)
        var bad = new List<string>();
        for (int cp = 0; cp <= 0x1FFFF; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) continue;
            string octets = Octets.FromUtf8(char.ConvertFromUtf32(cp));
            string once = CaseFolding.Fold(octets)!;
            if (CaseFolding.Fold(once) != once) bad.Add($"U+{cp:X4}");
        }
        Assert.That(bad, Is.Empty);
    }

    [TestCase("", true)]
    [TestCase("plain ascii", true)]
    [TestCase("na\xc3\xafve", true)]
    [TestCase("\xf0\x9f\x98\x80", true)]           // U+1F600
    [TestCase("\xf4\x8f\xbf\xbf", true)]           // U+10FFFF
    [TestCase("\xc3", false)]                      // cut short
    [TestCase("\x80", false)]                      // stray continuation byte
    [TestCase("\xc0\xaf", false)]                  // overlong
    [TestCase("\xe0\x80\xaf", false)]              // overlong
    [TestCase("\xed\xa0\x80", false)]              // surrogate U+D800
    [TestCase("\xf4\x90\x80\x80", false)]          // above U+10FFFF
    [TestCase("\xf5\x80\x80\x80", false)]
    [TestCase("caf\xe9", false)]                   // Latin-1
    [TestCase("ok\0\xff", true)]                   // a C string ends at NUL
    public void S3_3_IsValidUtf8_IsRfc3629_UpToTheFirstNul(string octets, bool valid) =>
        Assert.That(CaseFolding.IsValidUtf8(octets), Is.EqualTo(valid));

    [Test]
    public void S3_3_IsValidUtf8_AgreesWithUtf8IsValid_OnEveryShortSequence()
    {
        // every 1- and 2-byte string, every 3-byte one that starts with a 3-byte lead, and every
        // 4-byte lead with every second byte (the byte that carries the range rules)
        var mismatches = new List<string>();
        void Check(params byte[] bytes)
        {
            if (bytes.Contains((byte)0)) return;
            if (CaseFolding.IsValidUtf8(Encoding.Latin1.GetString(bytes)) != Utf8.IsValid(bytes))
                mismatches.Add(Convert.ToHexString(bytes));
        }
        for (int a = 1; a < 256; a++)
        {
            Check((byte)a);
            for (int b = 1; b < 256; b++)
            {
                Check((byte)a, (byte)b);
                if (a >= 0xE0 && a <= 0xEF)
                    for (int c = 1; c < 256; c++) Check((byte)a, (byte)b, (byte)c);
                if (a >= 0xF0)
                    foreach (int c in new[] { 0x41, 0x80, 0xBF, 0xC0 })
                    {
                        Check((byte)a, (byte)b, (byte)c, 0x80);
                        Check((byte)a, (byte)b, 0x80, (byte)c);
                    }
            }
        }
        Assert.That(mismatches, Is.Empty);
    }
}
