using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// A cdb backup in the real server with real memcached: postmap cdb: builds it, a lookup
/// through the server answers as postmap -q on the file and is written back to memcached;
/// a put is refused (read-only, as Postfix's cdb).
/// </summary>
[TestFixture, Category("Interop")]
public sealed class CdbBackupServerTests
{
    [Test]
    public void CdbBackup_AnswersAsPostmap_WritesBackToMemcached_PutRefused()
    {
        Assume.That(File.Exists("/usr/lib/postfix/postfix-cdb.so"), "postfix-cdb is not installed: run scripts/install-deps");
        using var dir = new TempDir();
        using var mc = MemcachedProcess.Start();
        var postfix = new Postfix(dir.Path);
        dir.Write("aliases", "User@Example.com  local@mail.example.com\nj\u00c3\u00b6rg@x.de  \u00c3\u00a9t\u00c3\u00a9\n");
        postfix.PostmapChecked(["cdb:" + dir.File("aliases")]);
        dir.Write("a.cf", $"memcache = {mc.Endpoint}\nkey_format = a:%s\nbackup = cdb:aliases\n");
        int tcp = FreePort.Next();
        string ini = dir.Write("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n[maps:a]\nconfig = a.cf\ntcp = inet:127.0.0.1:{tcp}\nallow_put = yes\n");
        using var server = ServerProcess.Serve(ini, tcp);
        foreach (var key in new[] { "USER@example.com", "J\u00f6RG@X.DE", "nobody@x.de" })
            Assert.That(postfix.Value(key, $"tcp:127.0.0.1:{tcp}"), Is.EqualTo(postfix.Value(key, "cdb:" + dir.File("aliases"))), key);
        Assert.That(mc.Get("a:user@example.com")?.Value, Is.EqualTo("local@mail.example.com"));
        using var c = new TcpLineClient(tcp);
        Assert.That(c.Put("new@x.de", "v"), Does.StartWith("400 "));
        Assert.That(server.WaitForOutput("table is read-only"), Is.True, server.Stderr);
    }
}
