using System.Text;
using Microsoft.Data.Sqlite;
using Npgsql;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// pgsql: and sqlite: tables against Postfix's own: the same data (a real PostgreSQL of the
/// test's own, a real SQLite file) and the same .cf files, every key looked up through
/// <c>postmap -f -q - pgsql:x.cf</c> (Debian's postfix-pgsql / postfix-sqlite) and through our
/// <see cref="ITable"/>: the answers must be identical, 0 differences. Keys cover the quoting
/// cases (' \ % _), non-ASCII, empty, with and without '@', empty localpart or domain, few
/// domain labels; values cover several rows, NULL, empty, with and without '@', numbers.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SqlDifferentialTests
{
    private TempDir _dir = null!;
    private ListLogger _logs = null!;
    private Postfix _postfix = null!;
    private PostgresProcess _pg = null!;
    private string _sqlite = null!;
    private List<string> _keys = null!;   // octet strings

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        if (!Postfix.Installed || !PostgresProcess.Installed || !File.Exists("/usr/lib/postfix/postfix-pgsql.so") && !Directory.GetFiles("/usr/lib/postfix", "*pgsql*").Any())
            Assert.Ignore("postfix-pgsql / postgresql not installed: run scripts/install-deps");
        _dir = new TempDir();
        _logs = new ListLogger();
        _postfix = new Postfix(_dir.Path);
        _pg = PostgresProcess.Start();
        var rows = Rows();
        _pg.Psql(PostgresProcess.Database, $"CREATE TABLE aliases (k text, v text, n int); ALTER TABLE aliases OWNER TO {PostgresProcess.User};");
        _pg.Psql("postgres", $"CREATE DATABASE noscs OWNER {PostgresProcess.User}; ALTER DATABASE noscs SET standard_conforming_strings = off;");
        _pg.Psql("noscs", $"CREATE TABLE aliases (k text, v text, n int); ALTER TABLE aliases OWNER TO {PostgresProcess.User};");
        foreach (var db in (string[])[PostgresProcess.Database, "noscs"])
        {
            using var pg = new NpgsqlConnection(_pg.AdminConnectionString.Replace($"Database={PostgresProcess.Database}", $"Database={db}"));
            pg.Open();
            using var copy = pg.BeginBinaryImport("COPY aliases (k, v, n) FROM STDIN (FORMAT BINARY)");
            foreach (var (k, v, n) in rows)
            {
                copy.StartRow();
                copy.Write(k);
                if (v is null) copy.WriteNull(); else copy.Write(v);
                if (n is null) copy.WriteNull(); else copy.Write(n.Value);
            }
            copy.Complete();
        }
        _sqlite = _dir.File("aliases.db");
        using (var lite = new SqliteConnection($"Data Source={_sqlite};Pooling=False"))
        {
            lite.Open();
            using var tx = lite.BeginTransaction();
            new SqliteCommand("CREATE TABLE aliases (k text, v text, n int)", lite, tx).ExecuteNonQuery();
            var insert = new SqliteCommand("INSERT INTO aliases VALUES ($k, $v, $n)", lite, tx);
            var pk = insert.Parameters.Add("$k", SqliteType.Text);
            var pv = insert.Parameters.Add("$v", SqliteType.Text);
            var pn = insert.Parameters.Add("$n", SqliteType.Integer);
            foreach (var (k, v, n) in rows)
            {
                pk.Value = k;
                pv.Value = (object?)v ?? DBNull.Value;
                pn.Value = (object?)n ?? DBNull.Value;
                insert.ExecuteNonQuery();
            }
            tx.Commit();
        }
        _keys = LookupKeys(rows);
    }

    [OneTimeTearDown]
    public void OneTimeTearDown()
    {
        _pg?.Dispose();
        _dir?.Dispose();
        _logs?.Dispose();
    }

    /// <summary>Special keys: quoting, non-ASCII, address shapes (text; stored and looked up as UTF-8).</summary>
    private static readonly string[] SpecialKeys =
    [
        "o'brien@quote.example", "back\\slash@quote.example", "both\\'@quote.example", "''", "\\", "\\'",
        "per%cent@x.example", "100%", "under_score@x.example", "_", "%",
        "jürgen@exämple.de", "wert@ü.de", "emoji😀@x.example", "漢字@例え.jp",
        "noat", "@leading.example", "trailing@", "a@b.c.d.e.f", "x@.a..b.", "y@single",
        "multi@rows.example", "nullval@x.example", "emptyval@x.example", "mixed@x.example",
        "CaseKey@X.Example", "two@@at.example", "space key@x.example", "semi;colon@x.example",
        "dom1.example", "quote.example", "single",
    ];

    private static List<(string K, string? V, int? N)> Rows()
    {
        var rows = new List<(string, string?, int?)>();
        for (int i = 0; i < 3000; i++)
        {
            string v = (i % 6) switch
            {
                0 => $"alias{i}@target{i % 5}.example",
                1 => $"local{i}",
                2 => $"@nouser{i}.example",
                3 => $"nodomain{i}@",
                4 => $"o'quote\\{i}@x.example",
                _ => $"wert-ü{i}@ziel.example",
            };
            rows.Add(($"user{i}@dom{i % 10}.example", v, i % 7 == 0 ? null : i));
        }
        foreach (var k in SpecialKeys) rows.Add((k, "v:" + k, k.Length));
        rows.Add(("multi@rows.example", "second@rows.example", 2));
        rows.Add(("multi@rows.example", "third", 3));
        rows.Add(("nullval@x.example", null, null));
        rows.Add(("emptyval@x.example", "", 0));
        rows.Add(("mixed@x.example", null, null));
        rows.Add(("mixed@x.example", "", 1));
        rows.Add(("user5@dom5.example", "another@row.example", 5));
        // rows the user/domain/label query finds
        rows.Add(("user7", "by-localpart", 7));
        rows.Add(("dom3.example", "by-domain", 3));
        rows.Add(("b.c", "by-labels", 9));
        return rows;
    }

    /// <summary>Every stored key, variants not stored, SQL injection attempts, the empty key (octets).</summary>
    private static List<string> LookupKeys(List<(string K, string? V, int? N)> rows)
    {
        var keys = new List<string>();
        foreach (var k in rows.Select(r => r.K).Distinct())
        {
            keys.Add(k);
            if (keys.Count % 5 == 0) keys.Add(k + "x");
            if (keys.Count % 7 == 0) keys.Add(k.ToUpperInvariant());
        }
        keys.AddRange(["", "' OR '1'='1", "x' OR k LIKE '%", "\\' OR 1=1 --", "%@%", "_@_", "user7@elsewhere.example",
            "nobody@dom3.example", "a@b.c", "z@y.b.c", "@", "@@", "user7@", "ü"]);
        return [.. keys.Distinct().Where(k => !k.Contains('\n') && !k.Contains('\t')).Select(Octets.FromUtf8),
            "caf\xe9@x.example", "\xff\xfe", "j\xfcrgen@ex\xe4mple.de", "\xc3@x.example"];   // not UTF-8
    }

    private string PgsqlCf(string name, string body, string? hosts = null, string db = PostgresProcess.Database) =>
        // Debian 12's Postfix 3.7 always sets client_encoding LATIN1 (3.8 added "encoding",
        // default UTF8, which 3.7 ignores): compare in that mode; UTF8 is tested on its own.
        _dir.Write(name, $"encoding = LATIN1\nhosts = {hosts ?? $"inet:127.0.0.1:{_pg.Port}"}\nuser = {PostgresProcess.User}\n" +
            $"password = {PostgresProcess.Password}\ndbname = {db}\n" + body);

    private string SqliteCf(string name, string body) => _dir.Write(name, $"dbpath = {_sqlite}\n" + body);

    private const string Plain = "query = SELECT v FROM aliases WHERE k='%s'\n";

    private static readonly (string Name, string Body)[] Variants =
    [
        ("plain", Plain),
        ("user-domain-labels", "query = SELECT v FROM aliases WHERE k='%u' OR k='%d' OR k='%2.%1' OR k='%U@%D'\n"),
        ("domain-filter", Plain + "domain = dom1.example, quote.example !dom4.example dom3.example exämple.de x.example\n"),
        ("result-format", Plain + "result_format = <%u|%d|%s|%S|%U|%D|%1>\n"),
        ("result-format-simple", "query = SELECT v FROM aliases WHERE k='%s' OR k='multi@rows.example'\nresult_format = [%s] %%\n"),
        ("number", "query = SELECT n FROM aliases WHERE k='%s'\n"),
        ("legacy", "table = aliases\nselect_field = v\nwhere_field = k\nadditional_conditions = AND v IS NOT NULL\n"),
    ];

    private static IEnumerable<TestCaseData> Cases() =>
        Variants.SelectMany(v => new[] { new TestCaseData("pgsql", v.Name), new TestCaseData("sqlite", v.Name) })
            .Concat([new TestCaseData("pgsql", "two-columns"), new TestCaseData("pgsql", "dead-first-host"),
                new TestCaseData("pgsql", "uri-unix-socket"), new TestCaseData("pgsql", "standard-conforming-strings-off")]);

    [TestCaseSource(nameof(Cases))]
    public async Task EveryKey_SameAnswerAsPostmap(string type, string variant)
    {
        string cf = MakeCf(type, variant);
        var expected = PostmapBatch($"{type}:{cf}", _keys);
        var factory = new TableFactory(_logs);
        await using var table = factory.Open($"{type}:{cf}", _dir.Path);
        var differences = new List<string>();
        int found = 0;
        foreach (var key in _keys)
        {
            var r = await table.LookupAsync(key);
            string? ours = r.Status == LookupStatus.Found ? r.Value : r.Status == LookupStatus.NotFound ? null : $"<{r.Status}>";
            expected.TryGetValue(key, out string? theirs);
            if (ours is not null) found++;
            if (ours != theirs) differences.Add($"{Octets.ToDisplay(key)}: ours {Show(ours)}, postmap {Show(theirs)}");
        }
        TestContext.Out.WriteLine($"{type} {variant}: {_keys.Count} keys, {found} found, {differences.Count} differences");
        Assert.That(differences, Is.Empty, string.Join("\n", differences.Take(20)));
        Assert.That(found, Is.GreaterThan(variant == "user-domain-labels" ? 3 : 100), "the variant finds what it should exercise");
    }

    private static string Show(string? v) => v is null ? "(not found)" : $"\"{Octets.ToDisplay(v)}\"";

    private string MakeCf(string type, string variant)
    {
        string file = $"{type}-{variant}.cf";
        return (type, variant) switch
        {
            ("pgsql", "two-columns") => PgsqlCf(file, "query = SELECT v, n FROM aliases WHERE k='%s'\n"),
            ("pgsql", "dead-first-host") => PgsqlCf(file, Plain, $"inet:127.0.0.1:{FreePort.Closed()}, 127.0.0.1:{_pg.Port}"),
            ("pgsql", "uri-unix-socket") => PgsqlCf(file, Plain, $"postgresql:///{PostgresProcess.Database}?host={Uri.EscapeDataString(_pg.SocketDir)}&port={_pg.Port}&user=postgres"),
            ("pgsql", "standard-conforming-strings-off") => PgsqlCf(file, Plain, db: "noscs"),
            ("pgsql", _) => PgsqlCf(file, Variants.Single(v => v.Name == variant).Body),
            _ => SqliteCf(file, Variants.Single(v => v.Name == variant).Body),
        };
    }

    /// <summary>`postmap -f -q - TABLE` with every key on stdin: key → value for the keys found.</summary>
    private Dictionary<string, string> PostmapBatch(string table, List<string> keys)
    {
        var r = _postfix.Postmap(["-f", "-q", "-", table], string.Join("\n", keys) + "\n", timeoutSeconds: 300);
        Assert.That(r.Stderr, Does.Not.Contain("fatal"), r.Stderr);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        int next = 0;
        foreach (var line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // lines come in key order: the key is the next input key the line starts with
            while (next < keys.Count && !line.StartsWith(keys[next] + "\t", StringComparison.Ordinal)) next++;
            Assert.That(next, Is.LessThan(keys.Count), $"unexpected postmap line {line}");
            result[keys[next]] = line[(keys[next].Length + 1)..];
            next++;
        }
        return result;
    }
}
