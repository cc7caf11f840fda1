using TcpTableServer.Config;
using TcpTableServer.Keys.PartialKeys;

namespace TcpTableServer.Tests.Keys.PartialKeys;

/// <summary>
/// partial_keys: the probe list of each use for representative keys, in Postfix's order
/// (mail_addr_find_opt with each caller's strategy, check_domain_access, check_addr_access).
/// The local domain of these tests is local.test (mydestination), origin.test (myorigin) and
/// [127.0.0.1] (inet_interfaces = loopback-only).
/// </summary>
public sealed class PartialKeyProbeTests
{
    internal static PartialKeyOptions Options(string use, params (string Name, string Value)[] options)
    {
        var p = new Dictionary<string, ConfigValue>(StringComparer.Ordinal)
        {
            ["myorigin"] = new("myorigin", "origin.test", "t.ini", 1),
            ["mydestination"] = new("mydestination", "local.test, !not.local.test", "t.ini", 2),
            ["inet_interfaces"] = new("inet_interfaces", "loopback-only", "t.ini", 3),
        };
        foreach (var (name, value) in options) p[name] = new ConfigValue(name, value, "t.ini", 9);
        return PartialKeyOptions.Parse(new ConfigValue("partial_keys", use, "t.ini", 8), p);
    }

    private static string[] Probes(string use, string key, params (string, string)[] options) =>
        [.. Options(use, options).Search.Probes(key).Select(p => p.Key)];

    private static readonly (string, string) Plus = ("recipient_delimiter", "+");

    [Test]
    public void Virtual_extension_remote_domain_full_then_stripped_then_at_domain()
    {
        Assert.That(Probes("virtual", "user+ext@remote.test", Plus),
            Is.EqualTo(new[] { "user+ext@remote.test", "user@remote.test", "@remote.test" }));
    }

    [Test]
    public void Virtual_extension_local_domain_adds_localpart_with_and_without_extension()
    {
        Assert.That(Probes("virtual", "user+ext@local.test", Plus),
            Is.EqualTo(new[] { "user+ext@local.test", "user@local.test", "user+ext", "user", "@local.test" }));
    }

    [Test]
    public void Virtual_no_extension_local_domain()
    {
        Assert.That(Probes("canonical", "user@local.test", Plus),
            Is.EqualTo(new[] { "user@local.test", "user", "@local.test" }));
    }

    [Test]
    public void Virtual_empty_delimiter_never_strips()
    {
        Assert.That(Probes("virtual", "user+ext@local.test"),
            Is.EqualTo(new[] { "user+ext@local.test", "user+ext", "@local.test" }));
    }

    [Test]
    public void Virtual_multi_character_delimiter_cuts_at_the_first_of_any()
    {
        Assert.That(Probes("virtual", "user-a+b@remote.test", ("recipient_delimiter", "+-")),
            Is.EqualTo(new[] { "user-a+b@remote.test", "user@remote.test", "@remote.test" }));
        var probe = Options("virtual", ("recipient_delimiter", "+-")).Search.Probes("user-a+b@remote.test")[1];
        Assert.That(probe.Extension, Is.EqualTo("-a+b"));
    }

    [TestCase("user@ORIGIN.test", true, TestName = "Virtual_myorigin_is_local_case_insensitively")]
    [TestCase("user@Local.Test.", true, TestName = "Virtual_mydestination_with_one_trailing_dot_is_local")]
    [TestCase("user@local.test..", false, TestName = "Virtual_two_trailing_dots_are_not_local")]
    [TestCase("user@not.local.test", false, TestName = "Virtual_negated_mydestination_entry_is_not_local")]
    [TestCase("user@sub.local.test", false, TestName = "Virtual_mydestination_has_no_parent_matching")]
    [TestCase("user@[127.0.0.1]", true, TestName = "Virtual_address_literal_of_inet_interfaces_is_local")]
    [TestCase("user@[IPv6:::1]", true, TestName = "Virtual_IPv6_literal_of_inet_interfaces_is_local")]
    [TestCase("user@[192.0.2.1]", false, TestName = "Virtual_other_address_literal_is_not_local")]
    public void Local_domain_test(string key, bool local)
    {
        Assert.That(Probes("virtual", key).Contains("user"), Is.EqualTo(local));
    }

    [Test]
    public void Virtual_proxy_interfaces_count_as_local()
    {
        Assert.That(Probes("virtual", "user@[192.0.2.1]", ("proxy_interfaces", "192.0.2.1")), Does.Contain("user"));
    }

    [Test]
    public void Virtual_default_mydestination_uses_myhostname_and_mydomain()
    {
        var keys = Probes("virtual", "u@localhost.example.org", ("myhostname", "mx.example.org"), ("mydestination", "$myhostname, localhost.$mydomain, localhost"));
        Assert.That(keys, Does.Contain("u"));
        Assert.That(Probes("virtual", "u@mx.example.org", ("myhostname", "mx.example.org"), ("mydestination", "$myhostname")), Does.Contain("u"));
    }

    [Test]
    public void Virtual_quoted_localpart_probes_are_quoted()
    {
        Assert.That(Probes("virtual", "\"a b+ext\"@local.test", Plus),
            Is.EqualTo(new[] { "\"a b+ext\"@local.test", "\"a b\"@local.test", "\"a b+ext\"", "\"a b\"", "@local.test" }));
    }

    [Test]
    public void Virtual_owner_and_request_are_not_split_at_dash()
    {
        Assert.That(Probes("virtual", "owner-list@remote.test", ("recipient_delimiter", "-")),
            Is.EqualTo(new[] { "owner-list@remote.test", "@remote.test" }));
        Assert.That(Probes("virtual", "list-request@remote.test", ("recipient_delimiter", "-")),
            Is.EqualTo(new[] { "list-request@remote.test", "@remote.test" }));
        Assert.That(Probes("virtual", "owner-list@remote.test", ("recipient_delimiter", "-"), ("owner_request_special", "no")),
            Is.EqualTo(new[] { "owner-list@remote.test", "owner@remote.test", "@remote.test" }));
    }

    [Test]
    public void Virtual_postmaster_and_empty_localpart_are_not_split()
    {
        Assert.That(Probes("virtual", "postmaster@remote.test", ("recipient_delimiter", "t")),
            Is.EqualTo(new[] { "postmaster@remote.test", "@remote.test" }));
        Assert.That(Probes("virtual", "+ext@remote.test", Plus), Is.EqualTo(new[] { "+ext@remote.test", "@remote.test" }));
    }

    [Test]
    public void Transport_default_dot_parent_domains()
    {
        Assert.That(Probes("transport", "user+ext@a.b.example", Plus),
            Is.EqualTo(new[] { "user+ext@a.b.example", "user@a.b.example", "a.b.example", ".b.example", ".example" }));
    }

    [Test]
    public void Transport_parent_domains_when_transport_maps_in_parent_domain_matches_subdomains()
    {
        Assert.That(Probes("transport", "user@a.b.example", ("parent_domain_matches_subdomains", "relay_domains transport_maps")),
            Is.EqualTo(new[] { "user@a.b.example", "a.b.example", "b.example", "example" }));
    }

    [Test]
    public void Transport_quoted_localpart_probes_external_then_internal_form()
    {
        Assert.That(Probes("transport", "\"a b+x\"@ex.test", Plus),
            Is.EqualTo(new[] { "\"a b+x\"@ex.test", "\"a b\"@ex.test", "a b@ex.test", "ex.test", ".test" }));
    }

    [Test]
    public void Access_address_default_parent_domains_then_localpart_at()
    {
        Assert.That(Probes("access", "user+ext@a.example.com", Plus),
            Is.EqualTo(new[] { "user+ext@a.example.com", "user@a.example.com", "a.example.com", "example.com", "com", "user+ext@", "user@" }));
    }

    [Test]
    public void Access_address_dot_parents_without_smtpd_access_maps_in_the_list()
    {
        Assert.That(Probes("access", "user@a.example.com", ("parent_domain_matches_subdomains", "")),
            Is.EqualTo(new[] { "user@a.example.com", "a.example.com", ".example.com", ".com", "user@" }));
    }

    [Test]
    public void Access_IPv4_octet_prefixes()
    {
        Assert.That(Probes("access", "192.0.2.10"), Is.EqualTo(new[] { "192.0.2.10", "192.0.2", "192.0", "192" }));
    }

    [Test]
    public void Access_IPv6_prefixes_cut_at_colons()
    {
        Assert.That(Probes("access", "2001:db8::1"), Is.EqualTo(new[] { "2001:db8::1", "2001:db8:", "2001:db8", "2001" }));
        Assert.That(Probes("access", "::ffff:192.0.2.1"), Is.EqualTo(new[] { "::ffff:192.0.2.1", "::ffff", ":", "" }));
    }

    [Test]
    public void Access_hostname_and_parents()
    {
        Assert.That(Probes("access", "mail.example.com"), Is.EqualTo(new[] { "mail.example.com", "example.com", "com" }));
        Assert.That(Probes("access", "mail.example.com", ("parent_domain_matches_subdomains", "relay_domains")),
            Is.EqualTo(new[] { "mail.example.com", ".example.com", ".com" }));
        Assert.That(Probes("access", "unknown"), Is.EqualTo(new[] { "unknown" }));
    }

    [Test]
    public void Access_not_quite_an_IPv4_address_is_a_name()
    {
        Assert.That(Probes("access", "1.2.3"), Is.EqualTo(new[] { "1.2.3", "2.3", "3" }));
        Assert.That(Probes("access", "1.2.3.256"), Is.EqualTo(new[] { "1.2.3.256", "2.3.256", "3.256", "256" }));
    }

    [Test]
    public void Bad_options_are_clear_errors()
    {
        Assert.That(() => Options("relocated"), Throws.TypeOf<ConfigException>().With.Message.Contains("expected virtual, canonical, transport or access"));
        Assert.That(() => Options("virtual", ("propagate_unmatched_extensions", "canonical, bogus")),
            Throws.TypeOf<ConfigException>().With.Message.Contains("unknown class \"bogus\""));
        Assert.That(() => Options("virtual", ("mydestination", "hash:/etc/postfix/local")),
            Throws.TypeOf<ConfigException>().With.Message.Contains("tables and files in mydestination are not supported"));
        Assert.That(() => Options("virtual", ("myorigin", "$nonesuch")),
            Throws.TypeOf<ConfigException>().With.Message.Contains("only $myhostname"));
        Assert.That(() => Options("virtual", ("owner_request_special", "maybe")),
            Throws.TypeOf<ConfigException>().With.Message.Contains("t.ini:9"));
    }
}
