using TcpTableServer.Config;
using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Config;

/// <summary>
/// partial_keys in the INI map section: parsed with its Postfix parameters into the map's
/// definition, bad values refused with file and line, parameters without partial_keys warned
/// about, and a change of any of them makes the map a different map at reload (fingerprint).
/// </summary>
public sealed class PartialKeysConfigTests
{
    private TempDir _dir = null!;
    private ListLogger _log = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDir();
        _log = new ListLogger();
        _dir.Write("a.cf", "memcache = inet:127.0.0.1:11211\n");
    }

    [TearDown]
    public void TearDown()
    {
        _dir.Dispose();
        _log.Dispose();
    }

    private MapDefinition Load(string section)
    {
        string ini = _dir.Write("t.ini", "[server]\nsocketmap = inet:127.0.0.1:9000\n[maps:m]\nconfig = a.cf\n" + section);
        return ServerConfigLoader.Load(ini, _log).Maps.Single();
    }

    [Test]
    public void Partial_keys_and_its_parameters_are_read_from_the_map_section()
    {
        var map = Load("partial_keys = transport\nrecipient_delimiter = +-\nparent_domain_matches_subdomains = transport_maps\n");
        Assert.That(map.PartialKeys, Is.Not.Null);
        Assert.That(map.PartialKeys!.Use, Is.EqualTo(PartialKeyUse.Transport));
        Assert.That(map.PartialKeys.Extension.Delimiters, Is.EqualTo("+-"));
        Assert.That(map.PartialKeys.ParentMatchesSubdomains, Is.True);
        Assert.That(map.Parameters.Keys, Has.No.Member("recipient_delimiter"), "not a memcache_table(5) parameter");
        Assert.That(_log.Warnings, Is.Empty);
    }

    [Test]
    public void Without_partial_keys_the_map_has_no_search_and_its_parameters_are_warned_about()
    {
        var map = Load("recipient_delimiter = +\n");
        Assert.That(map.PartialKeys, Is.Null);
        Assert.That(_log.Warnings, Has.Some.Contains("recipient_delimiter has no effect in [maps:m]: partial_keys is not set"));
    }

    [Test]
    public void Unknown_use_is_refused_with_file_and_line()
    {
        var e = Assert.Throws<ConfigException>(() => Load("\npartial_keys = relocated\n"))!;
        Assert.That(e.Message, Does.Contain("t.ini:6: partial_keys: unknown use \"relocated\""));
    }

    [Test]
    public void Access_default_parent_style_follows_postfix_default_list()
    {
        Assert.That(Load("partial_keys = access\n").PartialKeys!.ParentMatchesSubdomains, Is.True, "smtpd_access_maps is in Postfix's default");
        Assert.That(Load("partial_keys = transport\n").PartialKeys!.ParentMatchesSubdomains, Is.False, "transport_maps is not");
    }

    [Test]
    public void A_change_of_partial_keys_options_changes_the_map_fingerprint()
    {
        string plain = MapFingerprint.Of(Load(""));
        string virt = MapFingerprint.Of(Load("partial_keys = virtual\n"));
        string delim = MapFingerprint.Of(Load("partial_keys = virtual\nrecipient_delimiter = +\n"));
        Assert.That(new[] { plain, virt, delim }, Is.Unique);
        Assert.That(MapFingerprint.Of(Load("partial_keys = virtual\nrecipient_delimiter = +\n")), Is.EqualTo(delim));
    }
}
