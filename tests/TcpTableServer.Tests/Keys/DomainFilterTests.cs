using TcpTableServer.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Tests.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Keys;

/// <summary>The <c>domain</c> list (spec section 5).</summary>
public class DomainFilterTests
{
    private static ConfigValue Domain(string value) => new("domain", value, "test.cf", 4);

    private static DomainFilter Parse(string value, ListLogger? logs = null) =>
        DomainFilter.Parse(Domain(value), new TestTableFactory(), "/etc/postfix", "test.cf",
            (logs ?? new ListLogger()).CreateLogger("t"));

    private static async Task<string> Check(DomainFilter filter, string key)
    {
        var r = await filter.CheckAsync(key, CancellationToken.None);
        return r.IsError ? "ERROR" : r.Matches ? "lookup" : "skip";
    }

    [TestCase("example.com", "user@example.com", "lookup")]
    [TestCase("example.com", "User@EXAMPLE.com", "lookup")]
    [TestCase("example.com", "user@sub.example.com", "skip")]
    [TestCase("example.com", "@example.com", "skip")]
    [TestCase("example.com", "user", "skip")]
    [TestCase("example.com", "user@", "skip")]
    [TestCase("example.com", "a@b@example.com", "lookup")]
    [TestCase("EXAMPLE.COM", "user@example.com", "lookup")]
    [TestCase("EXAMPLE.COM", "User@EXAMPLE.com", "lookup")]
    [TestCase("EXAMPLE.COM", "user@sub.example.com", "skip")]
    [TestCase("EXAMPLE.COM", "@example.com", "skip")]
    [TestCase("EXAMPLE.COM", "user", "skip")]
    [TestCase("EXAMPLE.COM", "user@", "skip")]
    [TestCase("EXAMPLE.COM", "a@b@example.com", "lookup")]
    [TestCase("!example.com", "user@example.com", "skip")]
    [TestCase("!example.com", "User@EXAMPLE.com", "skip")]
    [TestCase("!example.com", "user@sub.example.com", "skip")]
    [TestCase("!example.com", "@example.com", "skip")]
    [TestCase("!example.com", "user", "skip")]
    [TestCase("!example.com", "user@", "skip")]
    [TestCase("!example.com", "a@b@example.com", "skip")]
    [TestCase("!bad.example.com, example.com", "user@example.com", "lookup")]
    [TestCase("!bad.example.com, example.com", "User@EXAMPLE.com", "lookup")]
    [TestCase("!bad.example.com, example.com", "user@sub.example.com", "skip")]
    [TestCase("!bad.example.com, example.com", "@example.com", "skip")]
    [TestCase("!bad.example.com, example.com", "user", "skip")]
    [TestCase("!bad.example.com, example.com", "user@", "skip")]
    [TestCase("!bad.example.com, example.com", "a@b@example.com", "lookup")]
    [TestCase("inline:{example.com=whatever}", "user@example.com", "lookup")]
    [TestCase("inline:{example.com=whatever}", "User@EXAMPLE.com", "lookup")]
    [TestCase("inline:{example.com=whatever}", "user@sub.example.com", "skip")]
    [TestCase("inline:{example.com=whatever}", "@example.com", "skip")]
    [TestCase("inline:{example.com=whatever}", "user", "skip")]
    [TestCase("inline:{example.com=whatever}", "user@", "skip")]
    [TestCase("inline:{example.com=whatever}", "a@b@example.com", "lookup")]
    [TestCase("fail:x, example.com", "user@example.com", "ERROR")]
    [TestCase("fail:x, example.com", "User@EXAMPLE.com", "ERROR")]
    [TestCase("fail:x, example.com", "user@sub.example.com", "ERROR")]
    [TestCase("fail:x, example.com", "@example.com", "skip")]
    [TestCase("fail:x, example.com", "user", "skip")]
    [TestCase("fail:x, example.com", "user@", "ERROR")]
    [TestCase("fail:x, example.com", "a@b@example.com", "ERROR")]
    [TestCase("example.com, fail:x", "user@example.com", "lookup")]
    [TestCase("example.com, fail:x", "User@EXAMPLE.com", "lookup")]
    [TestCase("example.com, fail:x", "user@sub.example.com", "ERROR")]
    [TestCase("example.com, fail:x", "@example.com", "skip")]
    [TestCase("example.com, fail:x", "user", "skip")]
    [TestCase("example.com, fail:x", "user@", "ERROR")]
    [TestCase("example.com, fail:x", "a@b@example.com", "lookup")]
    [TestCase("example.com #c example.org", "user@example.com", "lookup")]
    [TestCase("example.com #c example.org", "User@EXAMPLE.com", "lookup")]
    [TestCase("example.com #c example.org", "user@sub.example.com", "skip")]
    [TestCase("example.com #c example.org", "@example.com", "skip")]
    [TestCase("example.com #c example.org", "user", "skip")]
    [TestCase("example.com #c example.org", "user@", "skip")]
    [TestCase("example.com #c example.org", "a@b@example.com", "lookup")]
    [TestCase(".example.com", "user@example.com", "skip")]
    [TestCase(".example.com", "User@EXAMPLE.com", "skip")]
    [TestCase(".example.com", "user@sub.example.com", "skip")]
    [TestCase(".example.com", "@example.com", "skip")]
    [TestCase(".example.com", "user", "skip")]
    [TestCase(".example.com", "user@", "skip")]
    [TestCase(".example.com", "a@b@example.com", "skip")]
    public async Task Section5_3_verified_examples(string list, string key, string expected)
    {
        await using var filter = Parse(list);
        Assert.That(await Check(filter, key), Is.EqualTo(expected));
    }

    [Test]
    public void Section5_1_comment_token_ends_the_list_with_a_warning()
    {
        var logs = new ListLogger();
        var filter = Parse("example.com #c example.org", logs);
        Assert.That(filter.Count, Is.EqualTo(1));
        Assert.That(logs.Warnings, Has.Some.Contains("#comment after other text is not allowed"));
    }

    [Test]
    public async Task Section5_1_braces_are_never_split()
    {
        await using var filter = Parse("inline:{ a.org=1, example.com=2 }, other.net");
        Assert.That(filter.Count, Is.EqualTo(2));
        Assert.That(await Check(filter, "u@Example.COM"), Is.EqualTo("lookup"));
        Assert.That(await Check(filter, "u@other.net"), Is.EqualTo("lookup"));
        Assert.That(await Check(filter, "u@b.org"), Is.EqualTo("skip"));
    }

    [TestCase("!")]
    [TestCase("example.com, !!")]
    [TestCase("example.com !")]
    public void Section5_1_bang_without_pattern_is_fatal(string list)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(list));
        Assert.That(e!.Message, Does.StartWith("test.cf:4: domain: no pattern after '!'"));
    }

    [TestCase("!!example.com", "lookup")]
    [TestCase("!!!example.com", "skip")]
    public async Task Section5_1_repeated_bang_toggles(string list, string expected)
    {
        await using var filter = Parse(list);
        Assert.That(await Check(filter, "u@example.com"), Is.EqualTo(expected));
    }

    [Test]
    public async Task Section5_3_file_with_comment_and_continuation_lines()
    {
        string path = Path.Combine(Path.GetTempPath(), $"dl-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "example.org\n# comment\n  example.net   other.org\n");
        try
        {
            await using var included = Parse(path);
            Assert.That(included.Count, Is.EqualTo(3));
            foreach (var d in new[] { "example.org", "example.net", "other.org" })
                Assert.That(await Check(included, "u@" + d), Is.EqualTo("lookup"), d);
            Assert.That(await Check(included, "u@comment"), Is.EqualTo("skip"));

            await using var excluded = Parse($"!{path}, example.com");
            foreach (var d in new[] { "example.org", "example.net", "other.org", "x.com" })
                Assert.That(await Check(excluded, "u@" + d), Is.EqualTo("skip"), d);
            Assert.That(await Check(excluded, "u@example.com"), Is.EqualTo("lookup"));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void Section3_11_unreadable_file_refuses_to_start()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("/nonexistent/dir/list.txt"));
        Assert.That(e!.Message, Does.StartWith("test.cf:4: domain: open file /nonexistent/dir/list.txt"));
    }

    [Test]
    public void Section3_11_unknown_table_type_refuses_to_start()
    {
        var e = Assert.Throws<ConfigException>(() => Parse("example.com, nosuch:thing"));
        Assert.That(e!.Message, Does.StartWith("test.cf:4: domain:"));
        Assert.That(e.Message, Does.Contain("nosuch:thing"));
    }

    [Test]
    public async Task Section5_2_table_error_class_is_passed_on_with_a_warning()
    {
        var factory = new TestTableFactory();
        factory.Registered["pgsql:domains"] = new FailingTable("pgsql:domains", ErrorClass.Config);
        var logs = new ListLogger();
        await using var filter = DomainFilter.Parse(Domain("pgsql:domains"), factory, "/etc/postfix", "/etc/postfix/d.cf",
            logs.CreateLogger("t"));
        var r = await filter.CheckAsync("u@example.com", CancellationToken.None);
        Assert.That(r.Error, Is.EqualTo(ErrorClass.Config));
        Assert.That(logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/d.cf: pgsql:domains: table lookup problem" }));
    }

    [Test]
    public async Task Section5_1_table_is_searched_with_the_folded_domain()
    {
        var table = new FixedKeyTable("hash:d", ("example.com", "x"));
        var factory = new TestTableFactory();
        factory.Registered["hash:d"] = table;
        await using var filter = DomainFilter.Parse(Domain("hash:d"), factory, "/etc/postfix", "t", NullLogger.Instance);
        Assert.That((await filter.CheckAsync("A@B@EXAMPLE.Com", CancellationToken.None)).Matches, Is.True);
        Assert.That(table.Requests, Is.EqualTo(new[] { "lookup example.com" }));
        Assert.That(factory.Opened, Is.EqualTo(new[] { ("hash:d", "/etc/postfix") }));
    }

    [Test]
    public async Task Section5_1_table_is_searched_with_the_folded_domain_of_any_length()
    {
        string domain = new string('d', 100) + ".example.com";
        var table = new FixedKeyTable("hash:d", (domain, "x"));
        var factory = new TestTableFactory();
        factory.Registered["hash:d"] = table;
        await using var filter = DomainFilter.Parse(Domain("hash:d"), factory, "/etc/postfix", "t", NullLogger.Instance);
        Assert.That((await filter.CheckAsync("u@" + domain.ToUpperInvariant(), CancellationToken.None)).Matches, Is.True);
        Assert.That(table.Requests, Is.EqualTo(new[] { "lookup " + domain }));
    }

    [TestCase("User@EXAMPLE.com", true)]
    [TestCase("user@bad.example.com", false)]
    [TestCase("user@other.org", false)]
    public async Task literal_patterns_match_without_allocating(string key, bool matches)
    {
        var filter = Parse("example.net, !bad.example.com, bad.example.com, example.com");
        Assert.That((await filter.CheckAsync(key, CancellationToken.None)).Matches, Is.EqualTo(matches));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) await filter.CheckAsync(key, CancellationToken.None);
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    [TestCase("user@Ex\u00e9mple.COM", "ex\u00e9mple.com", "lookup")]   // bytes >= 0x80 compare exactly (V07)
    [TestCase("user@EX\u00c9MPLE.com", "ex\u00e9mple.com", "skip")]     // and are not folded (3.3)
    [TestCase("user@example.co", "example.com", "skip")]
    [TestCase("user@example.comm", "example.com", "skip")]
    public async Task Section5_2_literal_comparison_folds_ascii_only(string key, string pattern, string expected) =>
        Assert.That(await Check(Parse(pattern), key), Is.EqualTo(expected));
}
