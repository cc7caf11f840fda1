using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Keys;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// `check` warns when two maps sharing a memcached can produce the same memcached key (one
/// map's put then rewrites the other's answers); these cases pin the analysis.
/// </summary>
public class KeyOverlapTests
{
    private static bool Collide(string a, string b, string? da = null, string? db = null) =>
        KeyOverlap.CanCollide(KeyFormat.Parse(a, out _)!, da is null ? null : KeyDigest.Create(da),
            KeyFormat.Parse(b, out _)!, db is null ? null : KeyDigest.Create(db));

    [TestCase("%s", "%s", true)]                    // the default for both maps
    [TestCase("a:%s", "b:%s", false)]               // distinct prefixes: the advice
    [TestCase("a:%s", "%s", true)]                  // "%s" can produce "a:x"
    [TestCase("a:%s", "ab:%s", false)]
    [TestCase("a%s", "ab%s", true)]                 // "a" + "bx" = "ab" + "x"
    [TestCase("%s:a", "%s:b", false)]               // distinct suffixes
    [TestCase("%u@%d", "%s", true)]
    [TestCase("x%%y:%s", "x%%%s", true)]            // %% is a literal %: "x%" + "y:..."
    [TestCase("mail:%d", "mail:%1", true)]
    [TestCase("a:%s:x", "a:%s:y", false)]
    public void Templates(string a, string b, bool collide) =>
        Assert.That(Collide(a, b), Is.EqualTo(collide));

    [Test]
    public void Digests_of_the_same_algorithm_collide_when_their_inputs_can()
    {
        Assert.That(Collide("%s", "%s", "sha256", "sha256"), Is.True);
        Assert.That(Collide("a:%s", "b:%s", "sha256", "sha256"), Is.False);
    }

    [Test]
    public void Digests_of_different_lengths_never_collide() =>
        Assert.That(Collide("%s", "%s", "md5", "sha256"), Is.False);

    [Test]
    public void A_digest_collides_with_a_template_that_can_produce_hex_of_its_length()
    {
        Assert.That(Collide("%s", "%s", "md5"), Is.True);          // %s can be 32 hex digits
        Assert.That(Collide("%s", "m:%s", "md5"), Is.False);       // ':' is no hex digit
        Assert.That(Collide("%s", "abc", "md5"), Is.False);        // too short
    }

    private static MemcacheSettings On(string format, params string[] nodes)
    {
        var endpoints = nodes.Select(n => EndpointSpec.TryParse(n, out _)!).ToList();
        return MemcacheSettings.Defaults(endpoints[0]) with
        {
            KeyFormat = KeyFormat.Parse(format, out _)!,
            Nodes = endpoints.Count > 1 ? endpoints.Select(e => new MemcacheNodeSpec(e, 1)).ToList() : null,
        };
    }

    [Test]
    public void Maps_whose_memcache_nodes_share_a_node_are_warned_about_maps_on_other_nodes_are_not()
    {
        // A map spread over X and Y (memcache_nodes) and a map on Y alone: a key both place on Y
        // meets there, so the same key_format can collide; a map on Z alone shares nothing.
        var spread = On("%s", "inet:127.0.0.1:11211", "inet:127.0.0.1:11212");
        var onY = On("%s", "inet:127.0.0.1:11212");
        var onZ = On("%s", "inet:127.0.0.1:11213");
        var warnings = KeyOverlap.SharedKeyWarnings([("a", spread), ("b", onY), ("c", onZ)]).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1));
        Assert.That(warnings[0], Does.StartWith("maps a and b share memcached inet:127.0.0.1:11212 and can produce the same memcached key"));
    }
}
