using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Protocols;

namespace TcpTableServer.Tests.Keys.PartialKeys;

/// <summary>
/// partial_keys: the search over a table (the first hit answers, an error ends the search) and
/// what Postfix ends up with from a virtual/canonical hit without the extension
/// (mail_addr_map: "@domain" values, propagate_unmatched_extensions). The table is an
/// in-test double: results per key, including the temporary error a real table gives only
/// in a failure scenario.
/// </summary>
public sealed class PartialKeyTableTests
{
    private static readonly (string, string) Plus = ("recipient_delimiter", "+");

    private static async Task<(LookupResult Result, string[] Asked)> Lookup(TableDouble table, string key, string use,
        params (string, string)[] options)
    {
        var search = PartialKeyProbeTests.Options(use, options).Search;
        await using var partial = new PartialKeyTable(table, search);
        var r = await partial.LookupAsync(key);
        return (r, [.. table.LookedUp]);
    }

    [Test]
    public async Task First_hit_answers_and_later_probes_are_not_asked()
    {
        var table = new TableDouble().With("user@remote.test", "bob@example.org").With("@remote.test", "catchall@example.org");
        var (r, asked) = await Lookup(table, "user+ext@remote.test", "virtual", Plus, ("propagate_unmatched_extensions", ""));
        Assert.That(r, Is.EqualTo(LookupResult.Found("bob@example.org")));
        Assert.That(asked, Is.EqualTo(new[] { "user+ext@remote.test", "user@remote.test" }));
    }

    [Test]
    public async Task Temporary_error_on_a_probe_ends_the_search_with_that_error()
    {
        var table = new TableDouble().With("user@remote.test", LookupResult.TempError).With("@remote.test", "catchall@example.org");
        var (r, asked) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Status, Is.EqualTo(LookupStatus.TempError));
        Assert.That(asked, Is.EqualTo(new[] { "user+ext@remote.test", "user@remote.test" }));
    }

    [Test]
    public async Task Configuration_error_on_a_probe_ends_the_search_with_that_error()
    {
        var table = new TableDouble().With("example.com", LookupResult.ConfigError).With("com", "REJECT");
        var (r, asked) = await Lookup(table, "mail.example.com", "access");
        Assert.That(r.Status, Is.EqualTo(LookupStatus.ConfigError));
        Assert.That(asked, Is.EqualTo(new[] { "mail.example.com", "example.com" }));
    }

    [Test]
    public async Task Every_probe_missed_is_not_found()
    {
        var (r, asked) = await Lookup(new TableDouble(), "192.0.2.1", "access");
        Assert.That(r.Status, Is.EqualTo(LookupStatus.NotFound));
        Assert.That(asked, Has.Length.EqualTo(4));
    }

    [Test]
    public async Task Virtual_unmatched_extension_is_propagated_to_every_address()
    {
        var table = new TableDouble().With("user@remote.test", "a@x.test, Name <b@y.test>, c (comment), \"d e\"@z.test");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Value, Is.EqualTo("a+ext@x.test, b+ext@y.test, c+ext, \"d e+ext\"@z.test"));
    }

    [Test]
    public async Task Canonical_extension_not_propagated_when_not_in_propagate_unmatched_extensions()
    {
        var table = new TableDouble().With("user@remote.test", "bob@x.test");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "canonical", Plus, ("propagate_unmatched_extensions", "virtual"));
        Assert.That(r.Value, Is.EqualTo("bob@x.test"));
        var (v, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus, ("propagate_unmatched_extensions", "virtual"));
        Assert.That(v.Value, Is.EqualTo("bob+ext@x.test"));
    }

    [Test]
    public async Task Full_key_hit_is_answered_as_is()
    {
        var table = new TableDouble().With("user+ext@remote.test", "bob@x.test");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Value, Is.EqualTo("bob@x.test"));
    }

    [Test]
    public async Task Local_bare_localpart_hit_propagates_the_extension()
    {
        var table = new TableDouble().With("user", "bob@x.test");
        var (r, asked) = await Lookup(table, "user+ext@local.test", "virtual", Plus);
        Assert.That(r.Value, Is.EqualTo("bob+ext@x.test"));
        Assert.That(asked, Is.EqualTo(new[] { "user+ext@local.test", "user@local.test", "user+ext", "user" }));
    }

    [Test]
    public async Task At_domain_value_from_the_at_domain_probe_is_left_to_Postfix()
    {
        var table = new TableDouble().With("@remote.test", "@other.test");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Value, Is.EqualTo("@other.test"));
    }

    [TestCase("virtual", "user+ext@other.test")]
    [TestCase("", "user@other.test")]
    public async Task At_domain_value_from_a_stripped_probe_gets_the_localpart_without_extension(string propagate, string expected)
    {
        var table = new TableDouble().With("user@remote.test", "@other.test");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus, ("propagate_unmatched_extensions", propagate));
        Assert.That(r.Value, Is.EqualTo(expected));
    }

    [Test]
    public async Task Value_with_group_syntax_cannot_take_the_extension_and_is_a_configuration_error()
    {
        var table = new TableDouble().With("user@remote.test", "friends: a@x.test;");
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Status, Is.EqualTo(LookupStatus.ConfigError));
    }

    [TestCase("\"a:b\"@x.test", "\"a:b+ext\"@x.test")]
    [TestCase("\"a b\"@x.test (c, d), e@y.test", "\"a b+ext\"@x.test, e+ext@y.test")]
    [TestCase("", "+ext")]
    public async Task Extension_goes_into_quoted_and_commented_values_as_mail_addr_crunch_does(string value, string expected)
    {
        var table = new TableDouble().With("user@remote.test", value);
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Value, Is.EqualTo(expected));
    }

    [TestCase("<@a.test:b@c.test>")]
    [TestCase("b@c.test>")]
    public async Task Value_with_a_source_route_or_stray_bracket_is_a_configuration_error(string value)
    {
        var table = new TableDouble().With("user@remote.test", value);
        var (r, _) = await Lookup(table, "user+ext@remote.test", "virtual", Plus);
        Assert.That(r.Status, Is.EqualTo(LookupStatus.ConfigError));
    }

    [Test]
    public async Task Transport_and_access_values_are_answered_as_found()
    {
        var table = new TableDouble().With("user@remote.test", "smtp:[relay.test]").With("remote.test", "550 hit");
        Assert.That((await Lookup(table, "user+ext@remote.test", "transport", Plus)).Result.Value, Is.EqualTo("smtp:[relay.test]"));
        Assert.That((await Lookup(table, "other@remote.test", "access", Plus)).Result.Value, Is.EqualTo("550 hit"));
    }
}
