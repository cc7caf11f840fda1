using System.Diagnostics;

namespace TcpTableServer.Tests.Support;

/// <summary>
/// A real PostgreSQL (Debian's postgresql package) of the test's own: a new cluster in a
/// temporary directory (initdb), on a free loopback port, its UNIX socket in that directory,
/// stopped and removed on dispose. initdb and the server refuse to run as root, so as root
/// they run as the <c>postgres</c> user (runuser). Local (socket) connections are trusted;
/// TCP connections need a password (scram-sha-256), so the tables' <c>user</c> and
/// <c>password</c> are exercised: role <see cref="User"/> with <see cref="Password"/>.
/// </summary>
public sealed class PostgresProcess : IDisposable
{
    public const string User = "postfix";
    public const string Password = "s3cret'\\pw";
    public const string Database = "mail";

    private readonly string _dir;
    private readonly string _bin;
    private bool _stopped;

    public int Port { get; }

    /// <summary>The directory holding the server's UNIX socket (.s.PGSQL.PORT).</summary>
    public string SocketDir => Path.Combine(_dir, "run");

    /// <summary>A connection string for the superuser over the socket (to seed data).</summary>
    public string AdminConnectionString => $"Host={SocketDir};Port={Port};Username=postgres;Database={Database};Pooling=false";

    /// <summary>Whether PostgreSQL's server binaries are installed.</summary>
    public static bool Installed => BinDir() is not null;

    private PostgresProcess(string dir, string bin, int port)
    {
        _dir = dir;
        _bin = bin;
        Port = port;
    }

    private static string? BinDir() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(b => File.Exists(Path.Combine(b, "initdb"))).OrderDescending().FirstOrDefault()
            : null;

    public static PostgresProcess Start()
    {
        string bin = BinDir() ?? throw new InvalidOperationException("PostgreSQL is not installed: run scripts/install-deps");
        string dir = Directory.CreateTempSubdirectory("tcptable-pg-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "run"));
            File.WriteAllText(Path.Combine(dir, "pw"), "postgres\n");
            bool root = Environment.UserName == "root";
            if (root) Run("chown", ["-R", "postgres:postgres", dir], root: false);
            Run(Path.Combine(bin, "initdb"), ["-D", Path.Combine(dir, "data"), "-U", "postgres", "--pwfile", Path.Combine(dir, "pw"),
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"], root);
            for (int attempt = 0; ; attempt++)
            {
                int port = FreePort.Next();
                var r = Run(Path.Combine(bin, "pg_ctl"), ["-D", Path.Combine(dir, "data"), "-l", Path.Combine(dir, "log"), "-w", "-t", "30",
                    "-o", $"-p {port} -k {Path.Combine(dir, "run")} -h 127.0.0.1 -c fsync=off -c max_connections=200", "start"], root, check: false);
                if (r.Code == 0)
                {
                    var pg = new PostgresProcess(dir, bin, port);
                    pg.Psql("postgres", $"CREATE ROLE {User} LOGIN PASSWORD '{Password.Replace("'", "''")}'; CREATE DATABASE {Database} OWNER {User};");
                    return pg;
                }
                if (attempt >= 3) throw new InvalidOperationException($"postgres did not start: {r.Output} {File.ReadAllText(Path.Combine(dir, "log"))}");
            }
        }
        catch
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Runs SQL through psql as the superuser in <paramref name="database"/> (stops on the first error).</summary>
    public void Psql(string database, string sql)
    {
        string file = Path.Combine(_dir, "run", $"q{Guid.NewGuid():N}.sql");
        File.WriteAllText(file, sql);
        try
        {
            Run(Path.Combine(_bin, "psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDir, "-p", Port.ToString(), "-U", "postgres",
                "-d", database, "-f", file], Environment.UserName == "root");
        }
        finally { File.Delete(file); }
    }

    /// <summary>Stops the server now (a host going down); dispose removes the files.</summary>
    private void Stop()
    {
        if (_stopped) return;
        _stopped = true;
        Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_dir, "data"), "-m", "immediate", "-w", "stop"],
            Environment.UserName == "root", check: false);
    }

    public void Dispose()
    {
        Stop();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static (int Code, string Output) Run(string exe, IEnumerable<string> args, bool root, bool check = true)
    {
        var psi = new ProcessStartInfo(root ? "runuser" : exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (root)
        {
            foreach (var a in (string[])["-u", "postgres", "--", exe]) psi.ArgumentList.Add(a);
        }
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException($"{exe} did not finish"); }
        output += err.Result;
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({p.ExitCode}): {output}");
        return (p.ExitCode, output);
    }
}
