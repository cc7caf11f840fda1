using Microsoft.Data.Sqlite;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Interop;

/// <summary>
/// The pgsql: and sqlite: tables as memcache backups in the server (spec 3.4-3.6): a key that
/// memcached misses is answered from the SQL backup and stored in memcached; a write (the CLI
/// `put`) reaches memcached but fails on the read-only backup, as Postfix's memcache map
/// fails with a pgsql/sqlite backup. Real memcached, PostgreSQL, SQLite and server process.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SqlBackupServerTests
{
    private static (int Code, string Output) RunToExit(params string[] args)
    {
        using var p = ServerProcess.Start(args);
        int code = p.WaitForExit(60);
        return (code, p.Stdout + p.Stderr);
    }

    [Test]
    public void MemcacheMap_WithPgsqlAndSqliteBackups_AnswersFromBackup_CachesInMemcached_PutFailsOnReadOnlyBackup()
    {
        if (!PostgresProcess.Installed) Assert.Ignore("postgresql not installed: run scripts/install-deps");
        using var mc = MemcachedProcess.Start();
        using var pg = PostgresProcess.Start();
        using var d = new TempDir();
        pg.Psql(PostgresProcess.Database, $"CREATE TABLE a (k text, v text); INSERT INTO a VALUES ('o''brien@example.com', 'from-pg'); ALTER TABLE a OWNER TO {PostgresProcess.User};");
        using (var lite = new SqliteConnection($"Data Source={d.File("a.db")};Pooling=False"))
        {
            lite.Open();
            new SqliteCommand("CREATE TABLE a (k text, v text); INSERT INTO a VALUES ('o''brien@example.com', 'from-sqlite');", lite).ExecuteNonQuery();
        }
        d.File("pg.cf", $"hosts = 127.0.0.1:{pg.Port}\nuser = {PostgresProcess.User}\npassword = {PostgresProcess.Password}\ndbname = {PostgresProcess.Database}\nquery = SELECT v FROM a WHERE k='%s'\n");
        d.File("lite.cf", $"dbpath = {d.File("a.db")}\nquery = SELECT v FROM a WHERE k='%s'\n");
        d.File("p.cf", $"memcache = {mc.Endpoint}\nkey_format = p:%s\nbackup = pgsql:pg.cf\n");
        d.File("s.cf", $"memcache = {mc.Endpoint}\nkey_format = s:%s\nbackup = sqlite:{d.File("lite.cf")}\n");
        string ini = d.File("server.ini", $"[server]\nsocketmap = inet:127.0.0.1:{FreePort.Next()}\n\n[maps:p]\nconfig = p.cf\n[maps:s]\nconfig = s.cf\n");

        foreach (var (map, value) in (ReadOnlySpan<(string, string)>)[("p", "from-pg"), ("s", "from-sqlite")])
        {
            var q = RunToExit("--config", ini, "query", map, "O'Brien@example.com");
            Assert.That(q.Code, Is.EqualTo(0), q.Output);
            Assert.That(q.Output, Does.StartWith(value + "\n"), map);
            Assert.That(mc.Get($"{map}:o'brien@example.com"), Is.EqualTo((value, 0)), "3.4: the backup's answer is stored in memcached");
            Assert.That(RunToExit("--config", ini, "query", map, "nobody@example.com").Code, Is.EqualTo(1), "not found");
            var put = RunToExit("--config", ini, "put", map, "new@example.com", "x");
            Assert.That(put.Code, Is.Not.EqualTo(0), put.Output);
            Assert.That(put.Output, Does.Contain("read-only"));
        }
    }
}
