using System.Net.Sockets;
using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The wire-protocol vectors S01-S24 of spec 7.4 with raw sockets against the server
/// process (the in-process codec/handler tests are in tests/.../Protocols), and the five
/// differences of spec 3.13 between a native <c>memcache:</c> table and this server, the native
/// table being Postfix's own memcache client (`postmap -q KEY memcache:FILE.cf`) on the same
/// configuration files and the same scripted memcached.
/// </summary>
[TestFixture, Category("Vector"), Category("Interop"), NonParallelizable]
public sealed class VectorInteropWireTests() : ScriptedMemcachedFixture(BackupKind.Texthash)
{
    private const string Sm = "socketmap";
    private static readonly string Big1 = new('x', 4091), Big2 = new('x', 4092), Spaces = new(' ', 1364);
    private static readonly string B1 = new('x', 99997), B2 = new('x', 99998);

    [SetUp]
    public void SeedSpec74()
    {
        // after the base class's reset; spec 7.4: configuration A with these items, plus what S09/S20/S21 need
        _fake.Seed("aliases:user@example.com", "alice@example.org");
        _fake.Seed("aliases:j\u00c3\u0096rg@example.com", "joerg");
        _fake.Seed("user@example.com", "plain-value");
        _fake.Seed("big1", Big1);
        _fake.Seed("big2", Big2);
        _fake.Seed("sp", Spaces);
        _fake.Seed("b1", B1);
        _fake.Seed("b2", B2);
    }

    private int Port(string listener) => listener == Sm ? _rig.SocketmapPort : _rig.TcpPort(listener);

    private static string Ns(string payload) => $"{payload.Length}:{payload},";

    private void AssertNoTraffic() => Assert.That(_fake.Connections, Is.Empty, "no memcached traffic");

    [TestCase("S01", "aliases", "get J%c3%96RG@example.com\n", "200 joerg\n")]
    [TestCase("S02", "aliases", "get user@example.com\nget nobody@example.com\n", "200 alice@example.org\n500 not-found\n")]
    [TestCase("S03", "aliases", "get user@example.com\r\n", "200 alice@example.org\n")]
    [TestCase("S04", "aliases", "GET user@example.com\ndelete user@example.com\n", "400 bad-request\n400 bad-request\n")]
    [TestCase("S05", "aliases", "get\nget \n", "400 bad-request\n500 not-found\n")]
    [TestCase("S06", "aliases", "get a%zz\nget a%4\nget 100%\n", "400 bad-request\n400 bad-request\n400 bad-request\n")]
    [TestCase("S07", "aliases", "get john smith@example.com\n", "400 bad-request\n")]
    [TestCase("S08", "aliases", "get a%00b\n", "400 bad-request\n")]
    [TestCase("S11", "readonly", "put k v\n", "400 bad-request\n")]
    [TestCase("S12", "aliases", "put User@Example.com a%20b\n", "200 ok\n")]
    [TestCase("S13", Sm, "24:unknown user@example.com,", "16:PERM unknown-map,")]
    [TestCase("S14", Sm, "24:ALIASES user@example.com,", "16:PERM unknown-map,")]
    [TestCase("S15", Sm, "7:aliases,", "16:PERM bad-request,")]
    [TestCase("S16", Sm, "0:,", "16:PERM bad-request,")]
    [TestCase("S17", Sm, "0024:aliases user@example.com,", "20:OK alice@example.org,")]
    [TestCase("S18", Sm, " 24:aliases user@example.com,", "")]
    [TestCase("S18", Sm, "+24:aliases user@example.com,", "")]
    [TestCase("S18", Sm, "24 :aliases user@example.com,", "")]
    [TestCase("S18", Sm, "x:aliases user@example.com,", "")]
    [TestCase("S18", Sm, "24:aliases user@example.com;", "")]
    [TestCase("S18", Sm, "24:aliases user@exam", "")]
    [TestCase("S19", Sm, "2000000:aliases user@example.com,", "")]
    [TestCase("S20", Sm, "24:aliases user@example.com,22:plain user@example.com,", "20:OK alice@example.org,14:OK plain-value,")]
    [TestCase("S22", Sm, "31:aliases john smith@example.com ,", "9:NOTFOUND ,")]
    [TestCase("S23", Sm, "11:aliases a\nb,", "9:NOTFOUND ,")]
    public void S01_to_S23_RawRequestToServerProcess(string id, string listener, string request, string reply)
    {
        Assert.That(RawSocket.Exchange(Port(listener), request), Is.EqualTo(reply), id);
        string[] traffic = id switch
        {
            "S01" => ["get aliases:j\u00c3\u0096rg@example.com\r\n"],
            "S02" => ["get aliases:user@example.com\r\nget aliases:nobody@example.com\r\n"],
            "S03" or "S17" => ["get aliases:user@example.com\r\n"],
            "S05" => [],
            "S12" => ["set aliases:user@example.com 0 3600 3\r\na b\r\n"],
            "S20" => ["get aliases:user@example.com\r\n", "get user@example.com\r\n"],
            _ => [],
        };
        Assert.That(() => _fake.Connections, Is.EqualTo(traffic).After(2000, 20), $"{id}: memcached traffic");
    }

    [Test]
    public void S09_TcpReplyLengthLimit()
    {
        string reply = RawSocket.Exchange(_rig.TcpPort("plain"), "get big1\nget big2\nget sp\n");
        Assert.That(reply, Is.EqualTo($"200 {Big1}\n400 reply-too-long\n400 reply-too-long\n"));
        Assert.That(reply.IndexOf('\n') + 1, Is.EqualTo(4096), "the longest line Postfix accepts");
    }

    [Test]
    public void S10_OverLongTcpRequestLineClosesWithoutReply()
    {
        Assert.That(RawSocket.Exchange(_rig.TcpPort("aliases"), new string('a', 70000)), Is.Empty);
        AssertNoTraffic();
    }

    [Test]
    public void S21_SocketmapReplySizeLimit()
    {
        string reply = RawSocket.Exchange(_rig.SocketmapPort, Ns("plainbig b1") + Ns("plainbig b2"));
        Assert.That(reply, Is.EqualTo($"100000:OK {B1},19:TEMP reply-too-long,"));
        Assert.That(RawSocket.Exchange(_rig.TcpPort("plainbig"), "get b1\nget b2\n"),
            Is.EqualTo("400 reply-too-long\n400 reply-too-long\n"), "over tcp both are too long");
    }

    [TestCase("tcp", "get user@example.com\n", "200 alice@example.org\n")]
    [TestCase(Sm, "24:aliases user@example.com,", "20:OK alice@example.org,")]
    public void S24_NothingUnsolicited(string listener, string request, string reply)
    {
        int port = listener == Sm ? _rig.SocketmapPort : _rig.TcpPort("aliases");
        using var c = new TcpClient("127.0.0.1", port);
        var s = c.GetStream();
        var buf = new byte[200000];
        var early = s.ReadAsync(buf).AsTask();
        Assert.That(early.Wait(300), Is.False, "no greeting or keep-alive");
        s.Write(Encoding.Latin1.GetBytes(request));
        c.Client.Shutdown(SocketShutdown.Send);
        var all = new MemoryStream();
        int n = early.Result;
        while (n > 0)
        {
            all.Write(buf, 0, n);
            n = s.Read(buf);
        }
        Assert.That(Encoding.Latin1.GetString(all.ToArray()), Is.EqualTo(reply), "the reply, nothing else, then close");
    }

    // ---- spec 3.13: differences between a native memcache: table and this server ----

    private Postfix.Result Native(string key, string map) => _rig.Postfix.Query(key, $"memcache:{_rig.Directory}/{map}.cf");

    [Test]
    public void Spec3_13_1_ServerReceivesOnlyFullKeys_NoPartialKeyLookups([Values] Protocol p)
    {
        // a native memcache: table also gets @domain / parent-domain keys from Postfix's callers;
        // the server looks up exactly the key it is sent, and tries no partial key itself
        _fake.Seed("aliases:@example.com", "domain-wide");
        var (r, _) = _rig.Query(p, "aliases", "someone@example.com");
        Outcome.NotFound.AssertPostmap(r, p);
        Assert.That(_fake.Connections, Is.EqualTo(new[] { "get aliases:someone@example.com\r\n" }));
    }

    [Test]
    public void Spec3_13_2_ServerFoldsCaseLikeTheNativeTable([Values] Protocol p)
    {
        var native = Native("User@Example.COM", "aliases");
        Assert.That((native.ExitCode, native.Stdout), Is.EqualTo((0, "alice@example.org\n")), native.Stderr);
        var nativeTraffic = string.Concat(_fake.Connections);
        _fake.Reset();
        _fake.Seed("aliases:user@example.com", "alice@example.org");
        var (r, _) = _rig.Query(p, "aliases", "User@Example.COM");
        Outcome.Found("alice@example.org").AssertPostmap(r, p);
        Assert.That(() => string.Concat(_fake.Connections), Is.EqualTo(nativeTraffic).After(2000, 20),
            "the server folds the key the client sent unfolded, as the native table's caller does");
        Assert.That(nativeTraffic, Is.EqualTo("get aliases:user@example.com\r\n"));
    }

    [Test]
    public void Spec3_13_3_ValueSizeLimits()
    {
        // tcp: 4091 bytes cross, 4092 cannot; socketmap: 4092 crosses, 99997 is its largest value
        Outcome.Found(Big1).AssertPostmap(_rig.Query(Protocol.Tcp, "plain", "big1").Result, Protocol.Tcp);
        Outcome.TempError.AssertPostmap(_rig.Query(Protocol.Tcp, "plain", "big2").Result, Protocol.Tcp);
        Outcome.Found(Big2).AssertPostmap(_rig.Query(Protocol.Socketmap, "plain", "big2").Result, Protocol.Socketmap);
        Outcome.Found(B1).AssertPostmap(_rig.Query(Protocol.Socketmap, "plainbig", "b1").Result, Protocol.Socketmap);
        var b2 = _rig.Query(Protocol.Socketmap, "plainbig", "b2").Result;
        Assert.That(b2.Stderr, Does.Contain("reply-too-long"), b2.Stderr);
        // the native table returns the 4092-byte value (its only limit is data_size_limit)
        Assert.That(Native("big2", "plain").Stdout, Is.EqualTo(Big2 + "\n"));
    }

    [Test]
    public void Spec3_13_4_TcpHasNoConfigurationErrorStatus()
    {
        // a read-only texthash backup makes the update a configuration error (spec 1.8):
        // over tcp it can only be a 4xx, like a temporary error
        Assert.That(RawSocket.Exchange(_rig.TcpPort("backed"), "put user@example.com v\n"),
            Is.EqualTo("400 configuration-error\n"));
        Assert.That(RawSocket.Exchange(_rig.TcpPort("down"), "put user@example.com v\n"),
            Is.EqualTo("400 temporary-failure\n"));
        _rig.AssertWarning($"connect to {_rig.DownEndpoint}: Connection refused");
    }

    [TestCase("-d", Protocol.Socketmap)]
    [TestCase("-d", Protocol.Tcp)]
    [TestCase("-s", Protocol.Socketmap)]
    [TestCase("-s", Protocol.Tcp)]
    public void Spec3_13_5_UpdateDeleteSequenceUnreachableFromPostfix(string op, Protocol p)
    {
        var args = op == "-d" ? new[] { "-d", "user@example.com", _rig.Table(p, "aliases") } : ["-s", _rig.Table(p, "aliases")];
        var r = _rig.Postfix.Postmap(args);
        Assert.That(r.ExitCode, Is.Not.Zero, $"postmap {op}: {r.Stderr}");
        Assert.That(r.Stdout, Is.Empty);
        AssertNoTraffic();
        Assert.That(_fake.Get("aliases:user@example.com"), Is.Not.Null, "nothing deleted");
    }
}
