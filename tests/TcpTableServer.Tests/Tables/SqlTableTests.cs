using Microsoft.Data.Sqlite;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// pgsql: and sqlite: tables beyond the differential comparison (SqlDifferentialTests): UTF8
/// client encoding (Postfix 3.8+, which Debian's postmap cannot show), expansion_limit
/// against postmap key by key (its error ends a postmap batch), dead hosts, read-only
/// updates, configuration errors at open, sharing, concurrent lookups. Real PostgreSQL and
/// SQLite throughout.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SqlTableTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;
    private Postfix _postfix = null!;
    private PostgresProcess _pg = null!;
    private string _sqlite = null!;

    private static readonly (string K, string? V)[] Rows =
    [
        ("one@x.example", "1"), ("two@x.example", "2a"), ("two@x.example", "2b"),
        ("three@x.example", "3a"), ("three@x.example", "3b"), ("three@x.example", "3c"),
        ("jürgen@exämple.de", "wert-ü"), ("emoji😀@x.example", "😀"), ("o'brien@x.example", "quote'd"),
    ];

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        if (!Postfix.Installed || !PostgresProcess.Installed)
            Assert.Ignore("postfix / postgresql not installed: run scripts/install-deps");
        _dir = new TempDir();
        _postfix = new Postfix(_dir.Path);
        _pg = PostgresProcess.Start();
        string values = string.Join(", ", Rows.Select(r => $"('{r.K.Replace("'", "''")}', '{r.V!.Replace("'", "''")}')"));
        _pg.Psql(PostgresProcess.Database, $"CREATE TABLE aliases (k text, v text); INSERT INTO aliases VALUES {values}; ALTER TABLE aliases OWNER TO {PostgresProcess.User};");
        _sqlite = _dir.File("aliases.db");
        using var lite = new SqliteConnection($"Data Source={_sqlite};Pooling=False");
        lite.Open();
        new SqliteCommand($"CREATE TABLE aliases (k text, v text); INSERT INTO aliases VALUES {values};", lite).ExecuteNonQuery();
    }

    [OneTimeTearDown]
    public void OneTimeTearDown()
    {
        _pg?.Dispose();
        _dir?.Dispose();
    }

    /// <summary>A log per test: a warning one case logged cannot satisfy another case's assertion.</summary>
    [SetUp]
    public void SetUp() => _logs = new ListLogger();

    [TearDown]
    public void TearDown() => _logs.Dispose();

    private const string Plain = "query = SELECT v FROM aliases WHERE k='%s'\n";

    private string Pgsql(string body, string? hosts = null) =>
        "pgsql:" + _dir.Write($"pg{Guid.NewGuid():N}.cf", $"hosts = {hosts ?? $"127.0.0.1:{_pg.Port}"}\nuser = {PostgresProcess.User}\n" +
            $"password = {PostgresProcess.Password}\ndbname = {PostgresProcess.Database}\n" + body);

    private string Sqlite(string body) => "sqlite:" + _dir.Write($"lite{Guid.NewGuid():N}.cf", $"dbpath = {_sqlite}\n" + body);

    private ITable Open(string spec, TableFactory? factory = null) => (factory ?? new TableFactory(_logs)).Open(spec, _dir.Path);

    private static string U(string text) => Octets.FromUtf8(text);

    [Test]
    public async Task Pgsql_Utf8Encoding_KeysAndValuesAreUtf8Octets_InvalidUtf8KeyIsTempErrorForThatKeyOnly()
    {
        await using var table = Open(Pgsql(Plain));   // no "encoding": UTF8, as Postfix 3.8+
        Assert.That(await table.LookupAsync(U("jürgen@exämple.de")), Is.EqualTo(LookupResult.Found(U("wert-ü"))));
        Assert.That(await table.LookupAsync(U("emoji😀@x.example")), Is.EqualTo(LookupResult.Found(U("😀"))));
        Assert.That(await table.LookupAsync(U("o'brien@x.example")), Is.EqualTo(LookupResult.Found("quote'd")));
        // libpq cannot escape invalid UTF-8; Postfix then fails every host for retry_interval,
        // we fail this key only: the next key is answered.
        Assert.That(await table.LookupAsync("j\xfcrgen@x.example"), Is.EqualTo(LookupResult.TempError));
        Assert.That(_logs.Warnings, Has.Some.Contains("cannot escape input string"));
        Assert.That(await table.LookupAsync("one@x.example"), Is.EqualTo(LookupResult.Found("1")));
    }

    [Test]
    public async Task Sqlite_KeyNotUtf8_NotFoundWithoutQuery_AsPostmap()
    {
        string spec = Sqlite(Plain);
        await using var table = Open(spec);
        Assert.That(await table.LookupAsync("j\xfcrgen@x.example"), Is.EqualTo(LookupResult.NotFound));
        var r = _postfix.Postmap(["-f", "-q", "-", spec], "j\xfcrgen@x.example\n");
        Assert.That((r.ExitCode, r.Stdout, r.Stderr), Is.EqualTo((1, "", "")));   // 1: nothing found
    }

    [TestCase("pgsql")]
    [TestCase("sqlite")]
    public async Task ExpansionLimit_MoreResultsIsTempError_SameAsPostmapKeyByKey(string type)
    {
        const string body = Plain + "expansion_limit = 2\n";
        string spec = type == "pgsql" ? Pgsql("encoding = LATIN1\n" + body) : Sqlite(body);
        await using var table = Open(spec);
        foreach (var key in (string[])["one@x.example", "two@x.example", "three@x.example", "none@x.example"])
        {
            var r = _postfix.Postmap(["-f", "-q", key, spec]);
            string theirs = r.Stderr.Contains("fatal") ? "<error>" : r.ExitCode == 0 ? r.Stdout.TrimEnd('\n') : "<not found>";
            var ours = await table.LookupAsync(key);
            string mine = ours.IsError ? "<error>" : ours.Status == LookupStatus.Found ? ours.Value! : "<not found>";
            Assert.That(mine, Is.EqualTo(theirs), key);
        }
        Assert.That((await table.LookupAsync("three@x.example")).Status, Is.EqualTo(LookupStatus.TempError));
        Assert.That(await table.LookupAsync("two@x.example"), Is.EqualTo(LookupResult.Found("2a,2b")));
        Assert.That(_logs.Warnings, Has.Some.Contains("Expansion limit exceeded"));
    }

    [Test]
    public async Task Pgsql_EveryHostDead_TempError_DeadFirstHostIsSkipped()
    {
        await using (var dead = Open(Pgsql(Plain, $"inet:127.0.0.1:{FreePort.Closed()}")))
            Assert.That(await dead.LookupAsync("one@x.example"), Is.EqualTo(LookupResult.TempError));
        Assert.That(_logs.Warnings, Has.Some.Contains("pgsql query failed: host inet:127.0.0.1:"));
        await using var table = Open(Pgsql(Plain, $"127.0.0.1:{FreePort.Closed()} inet:127.0.0.1:{_pg.Port}"));
        for (int i = 0; i < 5; i++)
            Assert.That(await table.LookupAsync("one@x.example"), Is.EqualTo(LookupResult.Found("1")));
    }

    [TestCase("pgsql")]
    [TestCase("sqlite")]
    public async Task UpdateAndDelete_ReadOnlyTable_ConfigError(string type)
    {
        // Postfix opens pgsql/sqlite only O_RDONLY: a memcache write-back to one fails
        await using var table = Open(type == "pgsql" ? Pgsql(Plain) : Sqlite(Plain));
        Assert.That(await table.UpdateAsync("one@x.example", "x"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(await table.DeleteAsync("one@x.example"), Is.EqualTo(UpdateResult.ConfigError));
        Assert.That(_logs.Warnings, Has.Some.Contains("table is read-only"));
        Assert.That(await table.LookupAsync("one@x.example"), Is.EqualTo(LookupResult.Found("1")));
    }

    [TestCase("sqlite", "", "dbpath is not set")]
    [TestCase("sqlite", "dbpath = /nonexistent/x.db\n" + Plain, "open database /nonexistent/x.db")]
    [TestCase("sqlite", "DBPATH\n", "missing '='")]
    [TestCase("pgsql", "query = SELECT v FROM aliases WHERE k='%x'\n", "Invalid query template")]
    [TestCase("pgsql", Plain + "result_format = %q\n", "Invalid result template")]
    [TestCase("pgsql", Plain + "expansion_limit = -1\n", "invalid parameter value -1 < 0")]
    [TestCase("pgsql", Plain + "expansion_limit = many\n", "bad numerical configuration")]
    [TestCase("pgsql", Plain + "encoding = EUC_JP\n", "encoding EUC_JP is not supported")]
    [TestCase("pgsql", Plain + "domain = !\n", "no pattern after '!'")]
    [TestCase("pgsql", "hosts = localhost\n" + Plain, "requires dbname setting")]
    public void Open_BadConfiguration_ConfigExceptionNamingTheFile(string type, string body, string message)
    {
        string file = _dir.Write($"bad{Guid.NewGuid():N}.cf", body);
        var e = Assert.Throws<ConfigException>(() => Open($"{type}:{file}"))!;
        Assert.That(e.Message, Does.Contain(message));
        Assert.That(e.Message + e.File, Does.Contain(file));
    }

    [Test]
    public async Task Open_SameCfTwice_OneSharedInstance_AsDictRegister()
    {
        string spec = Sqlite(Plain);
        var factory = new TableFactory(_logs);
        await using var a = Open(spec, factory);
        await using var b = Open(spec, factory);
        Assert.That(((TableRegistry.SharedTable)a).Inner, Is.SameAs(((TableRegistry.SharedTable)b).Inner));
    }

    [TestCase("pgsql")]
    [TestCase("sqlite")]
    public async Task ConcurrentLookups_AllAnsweredCorrectly(string type)
    {
        await using var table = Open(type == "pgsql" ? Pgsql(Plain) : Sqlite(Plain));
        var keys = Enumerable.Range(0, 2000).Select(i => Rows[i % Rows.Length].K).ToArray();
        var results = await Task.WhenAll(keys.Select(k => table.LookupAsync(U(k)).AsTask()));
        for (int i = 0; i < keys.Length; i++)
            Assert.That(results[i].Status, Is.EqualTo(LookupStatus.Found), $"{keys[i]}: {string.Join("\n", _logs.Warnings.TakeLast(3))}");
        Assert.That(results.Count(r => r.Value == "2a,2b"), Is.EqualTo(keys.Count(k => k == "two@x.example")));
    }

    [Test]
    public async Task Sqlite_DomainListTable_IsAnotherSqlTable()
    {
        // a domain list may name tables: here an sqlite table of domains (Postfix's string_list)
        string domains = Sqlite("query = SELECT 'yes' WHERE '%s' = 'x.example'\n");
        await using var table = Open(Sqlite(Plain + $"domain = {domains}\n"));
        Assert.That(await table.LookupAsync("one@x.example"), Is.EqualTo(LookupResult.Found("1")));
        Assert.That(await table.LookupAsync(U("jürgen@exämple.de")), Is.EqualTo(LookupResult.NotFound));
    }
}
