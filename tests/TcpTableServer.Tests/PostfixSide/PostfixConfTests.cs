using TcpTableServer.Host;

namespace TcpTableServer.Tests.PostfixSide;

/// <summary>check --postfix: parsing postconf -n, -P and -M output (as Postfix 3.7 prints it), the chroot default, socket permissions.</summary>
[TestFixture]
public sealed class PostfixConfTests
{
    [Test]
    public void Main_settings_with_empty_values()
    {
        var s = PostfixConf.ParseMain("alias_maps = socketmap:inet:127.0.0.1:9000:a\nrelayhost =\n");
        Assert.That(s.Select(x => (x.Name, x.Value)), Is.EqualTo(new[] { ("alias_maps", "socketmap:inet:127.0.0.1:9000:a"), ("relayhost", "") }));
        Assert.That(s[0].Where, Is.EqualTo("alias_maps"));
    }

    [Test]
    public void Master_overrides_name_the_service()
    {
        var s = PostfixConf.ParseOverrides("smtp/inet/smtpd_recipient_restrictions = check_recipient_access,socketmap:inet:127.0.0.1:9000:nope\n").Single();
        Assert.That((s.Service, s.Name), Is.EqualTo(("smtp/inet", "smtpd_recipient_restrictions")));
        Assert.That(s.Where, Is.EqualTo("master.cf service smtp/inet: smtpd_recipient_restrictions"));
    }

    [Test]
    public void Services_take_the_chroot_column_and_command()
    {
        var s = PostfixConf.ParseServices(
            "smtp       inet  n       -       y       -       -       smtpd -o smtpd_recipient_restrictions=x\n" +
            "cleanup    unix  n       -       -       -       0       cleanup\n");
        Assert.That(s.Select(x => (x.Id, x.Chroot, x.Command)), Is.EqualTo(new[] { ("smtp/inet", "y", "smtpd"), ("cleanup/unix", "-", "cleanup") }));
    }

    [TestCase("y", "3.6", true)]
    [TestCase("n", "0", false)]
    [TestCase("-", "3.6", false)]
    [TestCase("-", "1", false)]
    [TestCase("-", "0", true)]
    public void Chroot_dash_is_y_only_below_compatibility_level_1(string column, string level, bool chrooted)
    {
        var conf = new PostfixConf { Settings = [], Services = [], QueueDirectory = "/q", MailOwner = "postfix", CompatibilityLevel = level };
        Assert.That(conf.IsChrooted(new PostfixService("smtp", "inet", column, "smtpd")), Is.EqualTo(chrooted));
    }

    private static readonly PostfixSocketAccess.Identity Postfix = new(103, [106, 200]);

    [TestCase(103u, 0u, 0b110_000_000, true, TestName = "owner rw")]
    [TestCase(0u, 0u, 0b110_000_000, false, TestName = "root-owned 0600")]
    [TestCase(0u, 106u, 0b110_110_000, true, TestName = "group postfix 0660")]
    [TestCase(0u, 200u, 0b110_110_000, true, TestName = "supplementary group 0660")]
    [TestCase(0u, 106u, 0b110_100_000, false, TestName = "group read only 0640")]
    [TestCase(0u, 0u, 0b110_110_010, true, TestName = "other write 0662")]
    [TestCase(103u, 106u, 0b000_110_110, false, TestName = "owner bits decide for the owner")]
    public void Write_permission_for_mail_owner(uint uid, uint gid, int mode, bool allowed) =>
        Assert.That(PostfixSocketAccess.Allows(Postfix, uid, gid, mode, 2), Is.EqualTo(allowed));
}
