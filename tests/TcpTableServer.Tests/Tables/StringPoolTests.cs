using System.Text;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// The request path's string pool (no allocation per request on the hit path):
/// a hot key or value gets the string made last time, and every answer stays byte-exact
/// (spec 0: octet strings; V07, V10 non-ASCII keys and values).
/// </summary>
[TestFixture]
public sealed class StringPoolTests
{
    private static byte[] Latin1(string s) => Encoding.Latin1.GetBytes(s);

    [Test]
    public void SameOctets_GiveTheSameStringInstance_FromTheSecondSightingOn()
    {
        string first = StringPool.FromBytes("hot-key@example.com"u8);
        string second = StringPool.FromBytes("hot-key@example.com"u8);
        string third = StringPool.FromBytes("hot-key@example.com"u8);
        string chars = StringPool.Get("hot-key@example.com");
        Assert.That(first, Is.EqualTo("hot-key@example.com"));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(second, Is.Not.SameAs(first), "a first sighting is not kept");
        Assert.That(third, Is.SameAs(second));
        Assert.That(chars, Is.SameAs(second));
    }

    [Test]
    public void OneOffStrings_DoNotEnterThePool()
    {
        // 400 000 strings seen once each, about 24 per set (a set keeps 4): had they entered, the
        // hot string would be evicted all but surely; it is kept, since they never entered
        StringPool.Get("hot-before-one-offs");
        string hot = StringPool.Get("hot-before-one-offs");
        for (int i = 0; i < 400_000; i++) StringPool.Get($"once{i}@example.net");
        Assert.That(StringPool.Get("hot-before-one-offs"), Is.SameAs(hot));
    }

    [Test]
    public void V07_V10_EveryByteValueSurvivesExactly()
    {
        for (int b = 0; b < 256; b++)
        {
            byte[] bytes = [(byte)'k', (byte)b, (byte)b, (byte)'z'];
            StringPool.FromBytes(bytes);
            string s = StringPool.FromBytes(bytes);
            Assert.That(Latin1(s), Is.EqualTo(bytes), $"byte 0x{b:X2}");
            Assert.That(StringPool.FromBytes(bytes), Is.SameAs(s));
        }
    }

    [Test]
    public void FarMoreStringsThanSlots_EachAnswerIsItsOwnContent()
    {
        // 200 000 distinct strings through 65 536 slots: sets overflow and drop their oldest,
        // and no lookup ever returns another string's content
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < 200_000; i++)
            {
                string expected = $"user{i}@example.com";
                Assert.That(StringPool.FromBytes(Latin1(expected)), Is.EqualTo(expected));
            }
    }

    [Test]
    public void LongerThanMaxLength_IsExactButNotKept()
    {
        string longest = new('a', StringPool.MaxLength);
        string tooLong = new('b', StringPool.MaxLength + 1);
        StringPool.FromBytes(Latin1(longest));
        string kept = StringPool.FromBytes(Latin1(longest));
        Assert.That(StringPool.FromBytes(Latin1(longest)), Is.SameAs(kept));
        string first = StringPool.FromBytes(Latin1(tooLong));
        string second = StringPool.FromBytes(Latin1(tooLong));
        Assert.That(second, Is.EqualTo(tooLong));
        Assert.That(second, Is.Not.SameAs(first));
    }

    [Test]
    public void RacingThreads_NeverGetAnotherStringsContent()
    {
        // 4 threads hammer 20 000 strings (sets overflow, slots are rewritten concurrently)
        var keys = Enumerable.Range(0, 20_000).Select(i => Latin1($"k{i}@d{i % 7}.example")).ToArray();
        int wrong = 0;
        Parallel.For(0, 4, t =>
        {
            var random = new Random(t);
            for (int n = 0; n < 400_000; n++)
            {
                byte[] k = keys[random.Next(keys.Length)];
                if (!Latin1(StringPool.FromBytes(k)).AsSpan().SequenceEqual(k)) Interlocked.Increment(ref wrong);
            }
        });
        Assert.That(wrong, Is.Zero);
    }

    [Test]
    public void HotStrings_AllocateNothing()
    {
        var keys = Enumerable.Range(0, 1000).Select(i => Latin1($"alias{i}@example.org")).ToArray();
        for (int sighting = 0; sighting < 2; sighting++)
            foreach (var k in keys) StringPool.FromBytes(k);
        // The pool is shared by the whole test run: a test running in parallel may evict a few of
        // these strings, which then are made again once (64 bytes each). The least of three
        // measurements is that noise-free; a pool that does not serve hot strings allocates
        // 640 KB in every one.
        long least = long.MaxValue;
        for (int attempt = 0; attempt < 3 && least != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int round = 0; round < 10; round++)
                foreach (var k in keys) StringPool.FromBytes(k);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.That(least, Is.Zero);
    }
}
