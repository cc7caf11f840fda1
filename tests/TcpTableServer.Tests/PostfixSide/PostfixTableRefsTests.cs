using TcpTableServer.Config;
using TcpTableServer.Host;

namespace TcpTableServer.Tests.PostfixSide;

/// <summary>
/// check --postfix, the pure parts: which socketmap:/tcp:/memcache: tables a Postfix
/// parameter value names (lists, proxy:, pipemap:/unionmap: braces, restriction lists), and
/// when a table's endpoint is one of our listeners.
/// </summary>
[TestFixture]
public sealed class PostfixTableRefsTests
{
    [Test]
    public void Socketmap_inet_reference_gives_endpoint_and_map_name()
    {
        var r = PostfixTableRefs.Extract("socketmap:inet:127.0.0.1:9000:aliases").Single();
        Assert.That((r.Type, r.Endpoint!.ToString(), r.MapName, r.Proxied), Is.EqualTo(("socketmap", "inet:127.0.0.1:9000", "aliases", false)));
    }

    [Test]
    public void Socketmap_unix_reference_keeps_a_relative_path()
    {
        var r = PostfixTableRefs.Extract("socketmap:unix:private/tcptable:aliases").Single();
        Assert.That((r.Endpoint!.Kind, r.Endpoint.Path, r.MapName), Is.EqualTo((EndpointKind.Unix, "private/tcptable", "aliases")));
    }

    [Test]
    public void Socketmap_ipv6_host_in_brackets()
    {
        var r = PostfixTableRefs.Extract("socketmap:inet:[::1]:9000:aliases").Single();
        Assert.That((r.Endpoint!.Host, r.Endpoint.Port, r.MapName), Is.EqualTo(("::1", "9000", "aliases")));
    }

    [Test]
    public void Tcp_reference_is_host_and_port()
    {
        var r = PostfixTableRefs.Extract("tcp:127.0.0.1:9001").Single();
        Assert.That((r.Type, r.Endpoint!.Host, r.Endpoint.Port, r.MapName), Is.EqualTo(("tcp", "127.0.0.1", "9001", (string?)null)));
    }

    [Test]
    public void Proxy_prefix_is_taken_off_and_remembered()
    {
        var refs = PostfixTableRefs.Extract("proxy:tcp:127.0.0.1:9001, proxywrite:socketmap:inet:127.0.0.1:9000:a");
        Assert.That(refs.Select(r => (r.Table, r.Proxied)), Is.EqualTo(new[] { ("tcp:127.0.0.1:9001", true), ("socketmap:inet:127.0.0.1:9000:a", true) }));
        Assert.That(refs[0].Text, Is.EqualTo("proxy:tcp:127.0.0.1:9001"));
    }

    [Test]
    public void Pipemap_and_unionmap_members_are_found_and_other_tables_ignored()
    {
        var refs = PostfixTableRefs.Extract(
            "hash:/etc/postfix/virtual, pipemap:{socketmap:inet:127.0.0.1:9000:a, tcp:127.0.0.1:9001} unionmap:{lmdb:/x,socketmap:unix:/run/t.sock:b}");
        Assert.That(refs.Select(r => r.Table), Is.EqualTo(new[]
            { "socketmap:inet:127.0.0.1:9000:a", "tcp:127.0.0.1:9001", "socketmap:unix:/run/t.sock:b" }));
    }

    [Test]
    public void Restriction_list_table_after_check_access()
    {
        var refs = PostfixTableRefs.Extract("permit_mynetworks, check_recipient_access socketmap:inet:127.0.0.1:9000:access, reject_unauth_destination");
        Assert.That(refs.Single().MapName, Is.EqualTo("access"));
    }

    [Test]
    public void Memcache_reference_is_found_without_endpoint()
    {
        var r = PostfixTableRefs.Extract("memcache:/etc/postfix/mc.cf").Single();
        Assert.That((r.Type, r.Endpoint), Is.EqualTo(("memcache", (EndpointSpec?)null)));
    }

    [Test]
    public void Socketmap_without_name_is_a_syntax_error()
    {
        Assert.That(PostfixTableRefs.Extract("socketmap:inet:").Single().SyntaxError, Is.Not.Null);
        Assert.That(PostfixTableRefs.Extract("socketmap:ftp:host:1:a").Single().SyntaxError, Does.Contain("unknown transport"));
    }

    private static EndpointSpec Ep(string text) => EndpointSpec.TryParse(text, out _)!;

    [TestCase("inet:127.0.0.1:9000", "inet:127.0.0.1:9000", true)]
    [TestCase("inet:127.0.0.1:9000", "inet:0.0.0.0:9000", true)]
    [TestCase("inet:localhost:9000", "inet:127.0.0.1:9000", true)]
    [TestCase("inet:127.0.0.1:9000", "inet:localhost:9000", true)]
    [TestCase("inet:127.0.0.1:9001", "inet:127.0.0.1:9000", false)]
    [TestCase("inet:192.0.2.1:9000", "inet:127.0.0.1:9000", false)]
    [TestCase("unix:private/tcptable", "unix:/q/private/tcptable", true)]
    [TestCase("unix:/q/private/tcptable", "unix:/q/private/tcptable", true)]
    [TestCase("unix:/run/tcptable", "unix:/q/private/tcptable", false)]
    [TestCase("unix:/q/private/tcptable", "inet:127.0.0.1:9000", false)]
    public void Same_endpoint(string table, string listener, bool same) =>
        Assert.That(PostfixTableRefs.SameEndpoint(Ep(table), Ep(listener), "/q"), Is.EqualTo(same));
}
