using TcpTableServer.Tables;
using TcpTableServer.Tests.Memcache;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// Spec 3.3 UTF-8 mode, the layer itself (<see cref="Utf8Table"/>, Postfix's dict_utf8) in
/// front of configuration A of spec 7.2 (<c>key_format = aliases:%s</c>) on a real memcached:
/// what reaches memcached is checked through memcached's contents.
/// </summary>
public sealed class Utf8TableTests
{
    private static Utf8Table Layer(VectorRig rig, bool foldKeys = true, params string[] extra) =>
        new(rig.Open("A", extra), foldKeys, rig.Logs);

    [Test]
    public async Task S3_3_Lookup_FoldsUnicode_BeforeMemcached()
    {
        await using var rig = new VectorRig(Backend.Real);
        rig.Seed(Octets.FromUtf8("aliases:ñandú170@example.com"), "found");
        var t = Layer(rig);
        Assert.That(await t.LookupAsync(Octets.FromUtf8("ñAndÚ170@eXAmplE.CoM")), Is.EqualTo(LookupResult.Found("found")));
        Assert.That(await t.LookupAsync(Octets.FromUtf8("ÑANDÚ170@EXAMPLE.COM")), Is.EqualTo(LookupResult.Found("found")));
    }

    [Test]
    public async Task S3_3_FoldKeysNo_ValidatesOnly()
    {
        await using var rig = new VectorRig(Backend.Real);
        rig.Seed(Octets.FromUtf8("aliases:ÑAndú@Example.com"), "as-is");
        var t = Layer(rig, foldKeys: false, "fold_keys = no");
        Assert.That(await t.LookupAsync(Octets.FromUtf8("ÑAndú@Example.com")), Is.EqualTo(LookupResult.Found("as-is")));
        Assert.That(await t.LookupAsync("\xd1" + "And\xfa@Example.com"), Is.EqualTo(LookupResult.NotFound), "Latin-1 bytes: not UTF-8");
    }

    [Test]
    public async Task S3_3_InvalidKey_NotFound_UpdateAndDeleteReportSuccess_MemcachedUntouched()
    {
        await using var rig = new VectorRig(Backend.Real);
        rig.Seed("aliases:bad\xff@example.com", "cached");
        var t = Layer(rig);
        Assert.That(await t.LookupAsync("bad\xff@example.com"), Is.EqualTo(LookupResult.NotFound));
        Assert.That(await t.UpdateAsync("bad\xff@example.com", "new"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await t.DeleteAsync("bad\xff@example.com"), Is.EqualTo(UpdateResult.Success));
        Assert.That(rig.Item("aliases:bad\xff@example.com"), Is.EqualTo(("cached", 0)), "neither replaced nor deleted");
        Assert.That(rig.Logs.Warnings, Has.Some.Contains("non-UTF-8 key"));
    }

    [Test]
    public async Task S3_3_NonUtf8Value_LookupIsAConfigError_UpdateReportsSuccessAndStoresNothing()
    {
        await using var rig = new VectorRig(Backend.Real);
        rig.Seed("aliases:latin1@example.com", "caf\xe9");
        var t = Layer(rig);
        Assert.That(await t.LookupAsync("Latin1@example.com"), Is.EqualTo(LookupResult.ConfigError));
        Assert.That(await t.UpdateAsync("new@example.com", "caf\xe9"), Is.EqualTo(UpdateResult.Success));
        Assert.That(rig.Item("aliases:new@example.com"), Is.Null);
        Assert.That(await t.UpdateAsync(Octets.FromUtf8("NEW@Example.com"), Octets.FromUtf8("café")), Is.EqualTo(UpdateResult.Success));
        Assert.That(rig.Item("aliases:new@example.com"), Is.EqualTo((Octets.FromUtf8("café"), 0)));
        Assert.That(rig.Logs.Warnings, Has.Some.Contains("non-UTF-8 value"));
    }
}
