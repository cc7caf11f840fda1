using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Memcache;

/// <summary>Parameters and their validation (spec 3.1, 3.11, 6.4).</summary>
public class MemcacheSettingsTests
{
    private static MemcacheSettings Parse(TestTableFactory tables, params string[] lines) =>
        MemcacheSettings.Parse(Cf.Params(lines), tables, "/etc/postfix", "test.cf", NullLogger.Instance);

    private static MemcacheSettings Parse(params string[] lines) => Parse(new TestTableFactory(), lines);

    private static string Fatal(params string[] lines) =>
        Assert.Throws<ConfigException>(() => Parse(lines))!.Message;

    [Test]
    public void Section3_1_defaults()
    {
        var s = Parse("tll = 60");
        Assert.That(s.Memcache.ToString(), Is.EqualTo("inet:localhost:11211"));
        Assert.That((s.Flags, s.Ttl, s.DataSizeLimit, s.LineSizeLimit, s.MaxTry, s.RetryPause, s.Timeout),
            Is.EqualTo((0, 3600, 10240, 1024, 2, 1, 2)));
        Assert.That(s.KeyFormat.IsIdentity, Is.True);
        Assert.That((s.KeyDigest, s.Domain, s.Backup), Is.EqualTo((null as KeyDigest, null as DomainFilter, null as TcpTableServer.Tables.ITable)));
        Assert.That(s.FoldKeys, Is.True);
    }

    [Test]
    public void Policy_memcache_connections_defaults_to_8_and_takes_at_least_2()
    {
        Assert.That(Parse("ttl = 60").MaxConnections, Is.EqualTo(8));
        Assert.That(Parse("memcache_connections = 3").MaxConnections, Is.EqualTo(3));
        Assert.That(Fatal("memcache_connections = 1"), Does.StartWith("test.cf:1: memcache_connections: invalid parameter value 1 < 2"));
    }

    [TestCase("ttl = 60 # one hour", "test.cf:1: ttl: bad numerical configuration: 60 # one hour")]
    [TestCase("ttl = 0x10", "test.cf:1: ttl: bad numerical configuration: 0x10")]
    [TestCase("ttl = 1k", "test.cf:1: ttl: bad numerical configuration: 1k")]
    [TestCase("ttl =", "test.cf:1: ttl: bad numerical configuration: ")]
    [TestCase("ttl = 99999999999", "test.cf:1: ttl: bad numerical configuration: 99999999999")]
    [TestCase("flags = -", "test.cf:1: flags: bad numerical configuration: -")]
    [TestCase("timeout = 2147483648", "test.cf:1: timeout: bad numerical configuration: 2147483648")]
    [TestCase("data_size_limit = 0", "test.cf:1: data_size_limit: invalid parameter value 0 < 1")]
    [TestCase("line_size_limit = 0", "test.cf:1: line_size_limit: invalid parameter value 0 < 1")]
    [TestCase("max_try = 0", "test.cf:1: max_try: invalid parameter value 0 < 1")]
    [TestCase("retry_pause = 0", "test.cf:1: retry_pause: invalid parameter value 0 < 1")]
    [TestCase("memcache =", "test.cf:1: memcache: empty memcache server specification")]
    [TestCase("key_format = %x", "test.cf:1: key_format: Invalid query template: %x")]
    [TestCase("key_format = abc%", "test.cf:1: key_format: Invalid query template: abc%")]
    [TestCase("key_digest = sha3000", "test.cf:1: key_digest: unsupported digest algorithm \"sha3000\"")]
    [TestCase("backup = nonsense", "test.cf:1: backup: need \"type:name\" table, not \"nonsense\"")]
    [TestCase("backup = nosuch:table", "test.cf:1: backup: cannot open nosuch:table")]
    [TestCase("domain = example.com, !", "test.cf:1: domain: no pattern after '!'")]
    [TestCase("fold_keys = maybe", "test.cf:1: fold_keys: bad boolean configuration: maybe")]
    public void Section3_11_fatal_configuration(string line, string message) =>
        Assert.That(Fatal(line), Does.StartWith(message));

    [TestCase("localhost:11211")]
    [TestCase("tcp:localhost:11211")]
    [TestCase("inet:[::1")]
    [TestCase("inet:")]
    public void Section3_1_bad_memcache_syntax_is_fatal(string value) =>
        Assert.That(Fatal($"memcache = {value}"), Does.StartWith("test.cf:1: memcache: "));

    [TestCase(" 5", 5)]
    [TestCase("+5", 5)]
    [TestCase("-5", -5)]
    [TestCase("\t-2147483648", int.MinValue)]
    [TestCase("2147483647", int.MaxValue)]
    public void Section3_1_integer_syntax(string text, int expected)
    {
        Assert.That(MemcacheSettings.TryParseInt(text, out int n), Is.True);
        Assert.That(n, Is.EqualTo(expected));
    }

    [Test]
    public void Section3_1_endpoints_and_quirks()
    {
        Assert.That(Parse("memcache = inet:[::1]:11211").Memcache.ToString(), Is.EqualTo("inet:[::1]:11211"));
        Assert.That(Parse("memcache = unix:/run/mc.sock").Memcache.Path, Is.EqualTo("/run/mc.sock"));
        Assert.That(Parse("memcache = local:/run/mc.sock").Memcache.Kind, Is.EqualTo(EndpointKind.Unix));
        var quirk = Parse("memcache = inet:myhost").Memcache;
        Assert.That((quirk.Host, quirk.Port), Is.EqualTo(("localhost", "myhost")), "inet:host means port=host");
    }

    [Test]
    public void Section3_1_values_and_negative_flags_pass_through()
    {
        var s = Parse("flags = -1", "ttl = -5", "timeout = 0", "max_try = 3", "retry_pause = 2",
            "data_size_limit = 5", "line_size_limit = 12", "key_format = aliases:%s", "key_digest = SHA256",
            "fold_keys = No", "backup =", "domain =");
        Assert.That((s.Flags, s.Ttl, s.Timeout, s.MaxTry, s.RetryPause, s.DataSizeLimit, s.LineSizeLimit),
            Is.EqualTo((-1, -5, 0, 3, 2, 5, 12)));
        Assert.That(s.KeyFormat.Template, Is.EqualTo("aliases:%s"));
        Assert.That(s.KeyDigest!.Name, Is.EqualTo("sha256"));
        Assert.That(s.FoldKeys, Is.False);
        Assert.That(s.Backup, Is.Null);
        Assert.That(s.Domain, Is.Null);
    }

    [Test]
    public void Section3_3_smtputf8_enable_defaults_to_yes_and_puts_the_backup_behind_the_utf8_layer()
    {
        var utf8 = Parse("backup = inline:{a=1}");
        Assert.That(utf8.Smtputf8Enable, Is.True, "Postfix's default");
        Assert.That(utf8.Backup, Is.TypeOf<TcpTableServer.Tables.Utf8Table>());
        var ascii = Parse("backup = inline:{a=1}", "smtputf8_enable = no");
        Assert.That(ascii.Smtputf8Enable, Is.False);
        Assert.That(ascii.Backup, Is.Not.TypeOf<TcpTableServer.Tables.Utf8Table>());
        Assert.That(Fatal("smtputf8_enable = maybe"), Is.EqualTo("test.cf:1: smtputf8_enable: bad boolean configuration: maybe (expected yes or no)"));
    }

    [Test]
    public void Section3_3_utf8_mode_refuses_an_inline_backup_that_is_not_utf8()
    {
        Assert.That(Fatal("backup = inline:{k=caf\xe9}"), Does.Contain("bad UTF-8 syntax"));
        Assert.That(Parse("backup = inline:{k=caf\xe9}", "smtputf8_enable = no").Backup, Is.Not.Null);
    }

    [Test]
    public void Section3_1_backup_is_opened_with_the_base_directory()
    {
        var tables = new TestTableFactory();
        var s = Parse(tables, "backup = inline:{a=1}");
        Assert.That(s.Backup!.Name, Is.EqualTo("inline:{a=1}"));
        Assert.That(tables.Opened, Is.EqualTo(new[] { ("inline:{a=1}", "/etc/postfix") }));
    }

    [TestCase("sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [TestCase("MD5", "", "d41d8cd98f00b204e9800998ecf8427e")]
    [TestCase("sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d")]
    [TestCase("Sha384", "", "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b")]
    [TestCase("sha512", "", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e")]
    public void Section3_2_key_digest_is_lowercase_hex(string algorithm, string input, string hex) =>
        Assert.That(KeyDigest.Create(algorithm)!.Apply(input), Is.EqualTo(hex));

    [TestCase(511)]
    [TestCase(512)]
    [TestCase(513)]
    [TestCase(5000)]
    public void Section3_2_key_digest_of_long_and_non_ascii_keys_hashes_the_octets(int length)
    {
        string key = new string('\xe9', length / 2) + new string('a', length - length / 2);
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Octets.ToBytes(key)));
        Assert.That(KeyDigest.Create("sha256")!.Apply(key), Is.EqualTo(expected));
    }

    [Test]
    public void key_digest_of_a_hot_key_allocates_nothing()
    {
        var digest = KeyDigest.Create("sha256")!;
        digest.Apply("user@example.com");                  // first sighting: remembered
        string first = digest.Apply("user@example.com");   // second: kept
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) digest.Apply("user@example.com");
        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(digest.Apply("user@example.com"), Is.SameAs(first));
    }
}
