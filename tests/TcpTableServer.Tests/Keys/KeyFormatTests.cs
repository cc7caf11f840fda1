using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Keys;

/// <summary>key_format parsing and expansion (spec section 4).</summary>
public class KeyFormatTests
{
    /// <summary>
    /// Key preparation steps 3, 4, 6 and 7 for one cell of the table in 4.3: fold, expand,
    /// then skip an empty result or one with whitespace/control bytes.
    /// </summary>
    private static string MemcacheKey(string template, string key)
    {
        var format = KeyFormat.Parse(template, out var error);
        Assert.That(error, Is.Null);
        string? m = format!.Expand(Octets.FoldAscii(key));
        return m is null || m.Length == 0 || KeyPreparer.HasSpaceOrControls(m) ? "skip" : m;
    }

    [TestCase("%s", "user@example.com", "user@example.com")]
    [TestCase("%s", "@example.com", "@example.com")]
    [TestCase("%s", "user@", "user@")]
    [TestCase("%s", "user", "user")]
    [TestCase("%s", "user@mail.example.com", "user@mail.example.com")]
    [TestCase("%s", "user@a@b", "user@a@b")]
    [TestCase("%s", "User@Example.COM", "user@example.com")]
    [TestCase("%s", "@", "@")]
    [TestCase("%s", "user@example..com", "user@example..com")]
    [TestCase("%s", "user@.example.com.", "user@.example.com.")]
    [TestCase("%s", "a b@example.com", "skip")]
    [TestCase("%u", "user@example.com", "user")]
    [TestCase("%u", "@example.com", "skip")]
    [TestCase("%u", "user@", "user")]
    [TestCase("%u", "user", "user")]
    [TestCase("%u", "user@mail.example.com", "user")]
    [TestCase("%u", "user@a@b", "user@a")]
    [TestCase("%u", "User@Example.COM", "user")]
    [TestCase("%u", "@", "skip")]
    [TestCase("%u", "user@example..com", "user")]
    [TestCase("%u", "user@.example.com.", "user")]
    [TestCase("%u", "a b@example.com", "skip")]
    [TestCase("%d", "user@example.com", "example.com")]
    [TestCase("%d", "@example.com", "example.com")]
    [TestCase("%d", "user@", "skip")]
    [TestCase("%d", "user", "skip")]
    [TestCase("%d", "user@mail.example.com", "mail.example.com")]
    [TestCase("%d", "user@a@b", "b")]
    [TestCase("%d", "User@Example.COM", "example.com")]
    [TestCase("%d", "@", "skip")]
    [TestCase("%d", "user@example..com", "example..com")]
    [TestCase("%d", "user@.example.com.", ".example.com.")]
    [TestCase("%d", "a b@example.com", "example.com")]
    [TestCase("%1", "user@example.com", "com")]
    [TestCase("%1", "@example.com", "com")]
    [TestCase("%1", "user@", "skip")]
    [TestCase("%1", "user", "skip")]
    [TestCase("%1", "user@mail.example.com", "com")]
    [TestCase("%1", "user@a@b", "b")]
    [TestCase("%1", "User@Example.COM", "com")]
    [TestCase("%1", "@", "skip")]
    [TestCase("%1", "user@example..com", "com")]
    [TestCase("%1", "user@.example.com.", "com")]
    [TestCase("%1", "a b@example.com", "com")]
    [TestCase("%2", "user@example.com", "example")]
    [TestCase("%2", "@example.com", "example")]
    [TestCase("%2", "user@", "skip")]
    [TestCase("%2", "user", "skip")]
    [TestCase("%2", "user@mail.example.com", "example")]
    [TestCase("%2", "user@a@b", "skip")]
    [TestCase("%2", "User@Example.COM", "example")]
    [TestCase("%2", "@", "skip")]
    [TestCase("%2", "user@example..com", "example")]
    [TestCase("%2", "user@.example.com.", "example")]
    [TestCase("%2", "a b@example.com", "example")]
    [TestCase("%3", "user@example.com", "skip")]
    [TestCase("%3", "@example.com", "skip")]
    [TestCase("%3", "user@", "skip")]
    [TestCase("%3", "user", "skip")]
    [TestCase("%3", "user@mail.example.com", "mail")]
    [TestCase("%3", "user@a@b", "skip")]
    [TestCase("%3", "User@Example.COM", "skip")]
    [TestCase("%3", "@", "skip")]
    [TestCase("%3", "user@example..com", "skip")]
    [TestCase("%3", "user@.example.com.", "skip")]
    [TestCase("%3", "a b@example.com", "skip")]
    [TestCase("%2.%1", "user@example.com", "example.com")]
    [TestCase("%2.%1", "@example.com", "example.com")]
    [TestCase("%2.%1", "user@", "skip")]
    [TestCase("%2.%1", "user", "skip")]
    [TestCase("%2.%1", "user@mail.example.com", "example.com")]
    [TestCase("%2.%1", "user@a@b", "skip")]
    [TestCase("%2.%1", "User@Example.COM", "example.com")]
    [TestCase("%2.%1", "@", "skip")]
    [TestCase("%2.%1", "user@example..com", "example.com")]
    [TestCase("%2.%1", "user@.example.com.", "example.com")]
    [TestCase("%2.%1", "a b@example.com", "example.com")]
    [TestCase("%u@%d", "user@example.com", "user@example.com")]
    [TestCase("%u@%d", "@example.com", "skip")]
    [TestCase("%u@%d", "user@", "skip")]
    [TestCase("%u@%d", "user", "skip")]
    [TestCase("%u@%d", "user@mail.example.com", "user@mail.example.com")]
    [TestCase("%u@%d", "user@a@b", "user@a@b")]
    [TestCase("%u@%d", "User@Example.COM", "user@example.com")]
    [TestCase("%u@%d", "@", "skip")]
    [TestCase("%u@%d", "user@example..com", "user@example..com")]
    [TestCase("%u@%d", "user@.example.com.", "user@.example.com.")]
    [TestCase("%u@%d", "a b@example.com", "skip")]
    [TestCase("%s%%", "user@example.com", "user@example.com%")]
    [TestCase("%s%%", "@example.com", "@example.com%")]
    [TestCase("%s%%", "user@", "user@%")]
    [TestCase("%s%%", "user", "user%")]
    [TestCase("%s%%", "user@mail.example.com", "user@mail.example.com%")]
    [TestCase("%s%%", "user@a@b", "user@a@b%")]
    [TestCase("%s%%", "User@Example.COM", "user@example.com%")]
    [TestCase("%s%%", "@", "@%")]
    [TestCase("%s%%", "user@example..com", "user@example..com%")]
    [TestCase("%s%%", "user@.example.com.", "user@.example.com.%")]
    [TestCase("%s%%", "a b@example.com", "skip")]
    [TestCase("x:%u:%d", "user@example.com", "x:user:example.com")]
    [TestCase("x:%u:%d", "@example.com", "skip")]
    [TestCase("x:%u:%d", "user@", "skip")]
    [TestCase("x:%u:%d", "user", "skip")]
    [TestCase("x:%u:%d", "user@mail.example.com", "x:user:mail.example.com")]
    [TestCase("x:%u:%d", "user@a@b", "x:user@a:b")]
    [TestCase("x:%u:%d", "User@Example.COM", "x:user:example.com")]
    [TestCase("x:%u:%d", "@", "skip")]
    [TestCase("x:%u:%d", "user@example..com", "x:user:example..com")]
    [TestCase("x:%u:%d", "user@.example.com.", "x:user:.example.com.")]
    [TestCase("x:%u:%d", "a b@example.com", "skip")]
    [TestCase("%4", "user@example.com", "skip")]
    [TestCase("%4", "@example.com", "skip")]
    [TestCase("%4", "user@", "skip")]
    [TestCase("%4", "user", "skip")]
    [TestCase("%4", "user@mail.example.com", "skip")]
    [TestCase("%4", "user@a@b", "skip")]
    [TestCase("%4", "User@Example.COM", "skip")]
    [TestCase("%4", "@", "skip")]
    [TestCase("%4", "user@example..com", "skip")]
    [TestCase("%4", "user@.example.com.", "skip")]
    [TestCase("%4", "a b@example.com", "skip")]
    [TestCase("%S", "user@example.com", "user@example.com")]
    [TestCase("%S", "@example.com", "@example.com")]
    [TestCase("%S", "user@", "user@")]
    [TestCase("%S", "user", "user")]
    [TestCase("%S", "user@mail.example.com", "user@mail.example.com")]
    [TestCase("%S", "user@a@b", "user@a@b")]
    [TestCase("%S", "User@Example.COM", "user@example.com")]
    [TestCase("%S", "@", "@")]
    [TestCase("%S", "user@example..com", "user@example..com")]
    [TestCase("%S", "user@.example.com.", "user@.example.com.")]
    [TestCase("%S", "a b@example.com", "skip")]
    [TestCase("%U", "user@example.com", "user")]
    [TestCase("%U", "@example.com", "skip")]
    [TestCase("%U", "user@", "user")]
    [TestCase("%U", "user", "user")]
    [TestCase("%U", "user@mail.example.com", "user")]
    [TestCase("%U", "user@a@b", "user@a")]
    [TestCase("%U", "User@Example.COM", "user")]
    [TestCase("%U", "@", "skip")]
    [TestCase("%U", "user@example..com", "user")]
    [TestCase("%U", "user@.example.com.", "user")]
    [TestCase("%U", "a b@example.com", "skip")]
    [TestCase("%D", "user@example.com", "example.com")]
    [TestCase("%D", "@example.com", "example.com")]
    [TestCase("%D", "user@", "skip")]
    [TestCase("%D", "user", "skip")]
    [TestCase("%D", "user@mail.example.com", "mail.example.com")]
    [TestCase("%D", "user@a@b", "b")]
    [TestCase("%D", "User@Example.COM", "example.com")]
    [TestCase("%D", "@", "skip")]
    [TestCase("%D", "user@example..com", "example..com")]
    [TestCase("%D", "user@.example.com.", ".example.com.")]
    [TestCase("%D", "a b@example.com", "example.com")]
    [TestCase("a %s", "user@example.com", "skip")]
    [TestCase("", "user@example.com", "skip")]
    [TestCase("a %s", "@example.com", "skip")]
    [TestCase("", "@example.com", "skip")]
    [TestCase("a %s", "user@", "skip")]
    [TestCase("", "user@", "skip")]
    [TestCase("a %s", "user", "skip")]
    [TestCase("", "user", "skip")]
    [TestCase("a %s", "user@mail.example.com", "skip")]
    [TestCase("", "user@mail.example.com", "skip")]
    [TestCase("a %s", "user@a@b", "skip")]
    [TestCase("", "user@a@b", "skip")]
    [TestCase("a %s", "User@Example.COM", "skip")]
    [TestCase("", "User@Example.COM", "skip")]
    [TestCase("a %s", "@", "skip")]
    [TestCase("", "@", "skip")]
    [TestCase("a %s", "user@example..com", "skip")]
    [TestCase("", "user@example..com", "skip")]
    [TestCase("a %s", "user@.example.com.", "skip")]
    [TestCase("", "user@.example.com.", "skip")]
    [TestCase("a %s", "a b@example.com", "skip")]
    [TestCase("", "a b@example.com", "skip")]
    public void Section4_3_expansion_table(string template, string key, string expected) =>
        Assert.That(MemcacheKey(template, key), Is.EqualTo(expected));

    [TestCase("%x")]
    [TestCase("abc%")]
    [TestCase("%0")]
    [TestCase("%{s}")]
    [TestCase("%")]
    [TestCase("a%%%")]
    public void Section4_1_invalid_template_is_rejected(string template)
    {
        Assert.That(KeyFormat.Parse(template, out var error), Is.Null);
        Assert.That(error, Does.Contain("Invalid query template"));
    }

    [TestCase("%%", "user@example.com", "%")]
    [TestCase("%9.%8.%7.%6.%5.%4.%3.%2.%1", "u@a.b.c.d.e.f.g.h.i", "a.b.c.d.e.f.g.h.i")]
    [TestCase("%1", "u@a.b.c.d.e.f.g.h.i", "i")]
    [TestCase("%u", "user", "user")]
    [TestCase("%U-%D", "user@dom", "user-dom")]
    public void Section4_2_sequences(string template, string key, string expected) =>
        Assert.That(MemcacheKey(template, key), Is.EqualTo(expected));

    [Test]
    public void Section4_1_exact_percent_s_is_identity()
    {
        Assert.That(KeyFormat.Parse("%s", out _)!.IsIdentity, Is.True);
        Assert.That(KeyFormat.Parse("%S", out _)!.IsIdentity, Is.False);
        Assert.That(KeyFormat.Parse("%s", out _)!.Expand("a b"), Is.EqualTo("a b"));
    }

    /// <summary>A quote function as SQL backups will pass (here: double every single quote).</summary>
    private static void DoubleQuotes(ReadOnlySpan<char> piece, System.Text.StringBuilder into)
    {
        foreach (char c in piece) into.Append(c == '\'' ? "''" : c);
    }

    [Test]
    public void QuoteHook_QuotesEverySubstitutedPiece_NotTheTemplateText()
    {
        var format = KeyFormat.Parse("q'%s'|%u|%d|%2|%1|%%'", out _)!;
        Assert.That(format.Expand("o'b@x'y.c'm", DoubleQuotes),
            Is.EqualTo("q'o''b@x''y.c''m'|o''b|x''y.c''m|x''y|c''m|%'"));
        Assert.That(format.Expand("o'b@x'y.c'm"), Is.EqualTo("q'o'b@x'y.c'm'|o'b|x'y.c'm|x'y|c'm|%'"));
    }

    [Test]
    public void QuoteHook_AppliesToTheIdentityTemplate_AndKeepsSkips()
    {
        Assert.That(KeyFormat.Parse("%s", out _)!.Expand("it's", DoubleQuotes), Is.EqualTo("it''s"));
        Assert.That(KeyFormat.Parse("%d", out _)!.Expand("no-domain", DoubleQuotes), Is.Null);
    }

    [TestCase("%2.%1", "User@Mail.Example.COM")]
    [TestCase("aliases:%s", "user@example.com")]
    [TestCase("u:%u@%d", "User@example.com")]
    [TestCase("%3/%2/%1/%u", "x@a..b.c.")]
    public void Section4_2_expanding_a_hot_key_allocates_nothing(string template, string key)
    {
        var format = KeyFormat.Parse(template, out _)!;
        for (int sighting = 0; sighting < 2; sighting++) format.Expand(Octets.FoldAscii(key));
        string first = format.Expand(Octets.FoldAscii(key))!;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) format.Expand(Octets.FoldAscii(key));
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(format.Expand(Octets.FoldAscii(key)), Is.SameAs(first));
    }

    [Test]
    public void Section4_2_long_keys_and_expansions_beyond_the_string_pool_are_exact()
    {
        string domain = new string('a', 150) + ".Example..COM.";
        Assert.That(MemcacheKey("%2-%1", "u@" + domain), Is.EqualTo("example-com"));
        Assert.That(MemcacheKey("%3", "u@" + domain), Is.EqualTo(new string('a', 150)));
        string key = new string('K', 60) + "@x.org";
        Assert.That(MemcacheKey("%s:%s", key), Is.EqualTo(key.ToLowerInvariant() + ":" + key.ToLowerInvariant()));
        Assert.That(MemcacheKey("%u.%d", key), Is.EqualTo(new string('k', 60) + ".x.org"));
        string longKey = new string('K', 120) + "@X.Org";   // folding beyond the pool's length (V03)
        Assert.That(MemcacheKey("%s", longKey), Is.EqualTo(new string('k', 120) + "@x.org"));
    }
}
