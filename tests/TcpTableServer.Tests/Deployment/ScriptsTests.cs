using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// The README's helper scripts as a new user runs them: scripts/postmap answers on a machine
/// where Postfix is installed but has no /etc/postfix/main.cf (Debian's "No configuration"),
/// and scripts/run passes its arguments to the built server unchanged.
/// </summary>
[TestFixture, Category("Deployment")]
public sealed class ScriptsTests
{
    private static string Script(string name) => Path.Combine(Repo.Root(), "scripts", name);

    /// <summary>
    /// scripts/postmap -q KEY texthash:config/aliases with /etc/postfix hidden behind an empty
    /// tmpfs in a private mount namespace (so the machine's own Postfix configuration, present or
    /// not, plays no part) and a scratch TMPDIR: it writes its minimal main.cf there and postmap
    /// answers, where plain postmap stops with "fatal: open /etc/postfix/main.cf".
    /// </summary>
    [Test]
    public void Postmap_helper_answers_without_an_etc_postfix_main_cf()
    {
        Assume.That(Postfix.Installed, "postmap is not installed: run scripts/install-deps");
        Assume.That(Environment.UserName == "root" && Tool.Find("unshare") is not null, "needs root and unshare(1) to hide /etc/postfix");
        using var scratch = new TempDir();
        string aliases = Path.Combine(Repo.Config, "aliases");
        var env = new Dictionary<string, string> { ["TMPDIR"] = scratch.Path, ["HOME"] = scratch.Path };
        Tool.Result Hidden(params string[] command) => Tool.Run("unshare",
            ["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /etc/postfix && exec \"$@\"", "sh", .. command],
            environment: env);

        var plain = Hidden("postmap", "-q", "user@example.com", "texthash:" + aliases);
        Assert.That(plain.Stderr, Does.Contain("main.cf"), "plain postmap needs main.cf: " + plain);

        var helped = Hidden(Script("postmap"), "-q", "user@example.com", "texthash:" + aliases);
        Assert.That(helped.ExitCode, Is.EqualTo(0), helped.ToString());
        Assert.That(helped.Stdout, Is.EqualTo("alice@example.org\n"));
        var notFound = Hidden(Script("postmap"), "-q", "nobody@example.com", "texthash:" + aliases);
        Assert.That(notFound.ExitCode, Is.EqualTo(1), notFound.ToString());
        Assert.That(Directory.GetFiles(scratch.Path, "main.cf", SearchOption.AllDirectories), Has.Length.EqualTo(1),
            "its minimal main.cf is in TMPDIR");
    }

    /// <summary>
    /// scripts/run ARGS runs the server with exactly ARGS: `check --config config/tcptable.ini`
    /// exits 0 with the check's own output. (scripts/run builds first; with a build in place
    /// that is an up-to-date no-op.)
    /// </summary>
    [Test]
    public void Run_helper_passes_check_config_to_the_server()
    {
        string ini = Path.Combine(Repo.Config, "tcptable.ini");
        var r = Tool.Run(Script("run"), ["check", "--config", ini], timeoutSeconds: 600);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        Assert.That(r.Stdout + r.Stderr, Does.Contain($"{ini}: ok: 1 map(s): aliases"), r.ToString());
    }
}
