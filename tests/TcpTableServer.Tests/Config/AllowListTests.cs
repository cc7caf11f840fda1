using System.Net;
using TcpTableServer.Config;

namespace TcpTableServer.Tests.Config;

/// <summary>Access control lists: networks, single addresses, loopback always, IPv4-mapped clients.</summary>
public class AllowListTests
{
    private static AllowList Parse(string v) => AllowList.Parse("allow", v, "t.ini", 3);

    [TestCase("10.0.0.0/8", "10.1.2.3", true)]
    [TestCase("10.0.0.0/8", "11.0.0.1", false)]
    [TestCase("10.0.0.0/8, 2001:db8::/32", "2001:db8::5", true)]
    [TestCase("10.0.0.0/8, 2001:db8::/32", "2001:db9::5", false)]
    [TestCase("192.0.2.7", "192.0.2.7", true)]
    [TestCase("192.0.2.7", "192.0.2.8", false)]
    [TestCase("10.0.0.0/8", "::ffff:10.9.9.9", true)]      // IPv4 client on a dual-stack socket
    [TestCase("10.0.0.0/8", "::ffff:12.9.9.9", false)]
    [TestCase("", "127.0.0.1", true)]                       // loopback always allowed
    [TestCase("", "127.3.4.5", true)]
    [TestCase("", "::1", true)]
    [TestCase("", "::ffff:127.0.0.1", true)]
    [TestCase("", "192.168.1.1", false)]
    public void Allows(string list, string client, bool allowed) =>
        Assert.That(Parse(list).Allows(IPAddress.Parse(client)), Is.EqualTo(allowed));

    [TestCase("10.0.0.0/33")]
    [TestCase("10.0.0.1/8")]     // host bits set: probably a typo for a network
    [TestCase("mail.example.com")]
    [TestCase("10.0.0")]
    public void Bad_items_fail_with_file_line_and_item(string item)
    {
        var e = Assert.Throws<ConfigException>(() => Parse("192.0.2.0/24, " + item))!;
        Assert.That(e.Message, Does.Contain("t.ini").And.Contain("3").And.Contain(item));
    }

    [Test]
    public void Covers_tells_whether_a_listener_list_only_narrows_the_server_list()
    {
        var server = Parse("10.0.0.0/8");
        Assert.That(server.Covers(IPNetwork.Parse("10.1.0.0/16")), Is.True);
        Assert.That(server.Covers(IPNetwork.Parse("10.0.0.0/8")), Is.True);
        Assert.That(server.Covers(IPNetwork.Parse("0.0.0.0/0")), Is.False);
        Assert.That(server.Covers(IPNetwork.Parse("11.0.0.0/16")), Is.False);
        Assert.That(server.Covers(IPNetwork.Parse("127.0.0.0/8")), Is.True);
    }
}
