using System.Diagnostics;

namespace TcpTableServer.Host;

/// <summary>A parameter setting: main.cf (<see cref="Service"/> null) or a master.cf <c>-o</c> override of one service.</summary>
public sealed record PostfixSetting(string? Service, string Name, string Value)
{
    /// <summary>"virtual_alias_maps" or "master.cf service smtp/inet: smtpd_recipient_restrictions".</summary>
    public string Where => Service is null ? Name : $"master.cf service {Service}: {Name}";
}

/// <summary>
/// One master.cf service from <c>postconf -M</c>: "smtp inet n - y - - smtpd -o ...".
/// <see cref="Chroot"/> is the fifth column as written ("y", "n" or "-").
/// </summary>
public sealed record PostfixService(string Name, string Type, string Chroot, string Command)
{
    public string Id => $"{Name}/{Type}";
}

/// <summary>
/// Postfix's configuration as postconf(1) prints it: <c>postconf -n</c> (main.cf settings,
/// unexpanded), <c>postconf -P</c> (master.cf <c>-o</c> overrides, "service/type/name = value"),
/// <c>postconf -M</c> (master.cf services) and <c>postconf -h</c> for single values. The parsers
/// are pure; <see cref="Read"/> runs postconf.
/// </summary>
public sealed class PostfixConf
{
    public required IReadOnlyList<PostfixSetting> Settings { get; init; }
    public required IReadOnlyList<PostfixService> Services { get; init; }
    public required string QueueDirectory { get; init; }
    public required string MailOwner { get; init; }
    public required string CompatibilityLevel { get; init; }

    /// <summary>
    /// Parameters' values with <c>$name</c> expanded and defaults included (postconf -x -h),
    /// for those whose every table matters however it got there (<see cref="PostfixCheck.Paranoid"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> Expanded { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Whether the service runs chrooted: "-" means y below compatibility_level 1 and n from it
    /// on (master_ent.c, Postfix 3.0 and later).
    /// </summary>
    public bool IsChrooted(PostfixService s) => s.Chroot switch
    {
        "y" => true,
        "n" => false,
        _ => LevelBelowOne(CompatibilityLevel),
    };

    private static bool LevelBelowOne(string level) =>
        double.TryParse(level.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture, out double major) && major < 1;

    /// <summary>"name = value" lines (postconf -n); a value may be empty.</summary>
    public static List<PostfixSetting> ParseMain(string output) =>
        [.. Lines(output).Select(l => (l, eq: l.IndexOf(" = ", StringComparison.Ordinal)))
            .Select(t => t.eq > 0 ? new PostfixSetting(null, t.l[..t.eq], t.l[(t.eq + 3)..])
                : t.l.EndsWith(" =", StringComparison.Ordinal) ? new PostfixSetting(null, t.l[..^2], "") : null)
            .OfType<PostfixSetting>()];

    /// <summary>"service/type/name = value" lines (postconf -P).</summary>
    public static List<PostfixSetting> ParseOverrides(string output)
    {
        var list = new List<PostfixSetting>();
        foreach (var s in ParseMain(output))
        {
            int slash = s.Name.LastIndexOf('/');
            if (slash > 0) list.Add(new PostfixSetting(s.Name[..slash], s.Name[(slash + 1)..], s.Value));
        }
        return list;
    }

    /// <summary>Service lines (postconf -M): name, type, private, unpriv, chroot, wakeup, maxproc, command, args.</summary>
    public static List<PostfixService> ParseServices(string output)
    {
        var list = new List<PostfixService>();
        foreach (string line in Lines(output))
        {
            var f = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 8) list.Add(new PostfixService(f[0], f[1], f[4], f[7]));
        }
        return list;
    }

    private static IEnumerable<string> Lines(string output) =>
        output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && !char.IsWhiteSpace(l[0]));

    /// <summary>Runs postconf on <paramref name="configDir"/> (null: Postfix's default, /etc/postfix).</summary>
    public static PostfixConf Read(string? configDir)
    {
        string[] values = Postconf(configDir, "-h", "queue_directory", "mail_owner", "compatibility_level").Split('\n');
        return new PostfixConf
        {
            Settings = [.. ParseMain(Postconf(configDir, "-n")), .. ParseOverrides(Postconf(configDir, "-P"))],
            Services = ParseServices(Postconf(configDir, "-M")),
            QueueDirectory = values[0].Trim(),
            MailOwner = values.Length > 1 ? values[1].Trim() : "postfix",
            CompatibilityLevel = values.Length > 2 ? values[2].Trim() : "0",
            Expanded = ReadExpanded(configDir, [.. PostfixCheck.Paranoid.Keys]),
        };
    }

    /// <summary>Expanded values (<c>postconf -x -h NAME...</c>), defaults included.</summary>
    public static Dictionary<string, string> ReadExpanded(string? configDir, IReadOnlyList<string> names)
    {
        string[] values = Postconf(configDir, ["-x", "-h", .. names]).Split('\n');
        var d = new Dictionary<string, string>();
        for (int i = 0; i < names.Count; i++) d[names[i]] = i < values.Length ? values[i].Trim() : "";
        return d;
    }

    public const string PostconfPath = "postconf";

    private static string Postconf(string? configDir, params string[] args)
    {
        var (code, stdout, stderr) = PostfixTools.Run(PostconfPath, configDir, args, workingDirectory: null);
        if (code != 0)
            throw new PostfixToolException($"postconf {string.Join(' ', args)}: exit {code}: {stderr.Trim()}");
        return stdout;
    }
}

/// <summary>postconf or postmap could not run or failed.</summary>
public sealed class PostfixToolException(string message) : Exception(message);

/// <summary>Runs a Postfix tool with <c>-c DIR</c>, capturing its output.</summary>
public static class PostfixTools
{
    public static (int Code, string Stdout, string Stderr) Run(string tool, string? configDir, IEnumerable<string> args, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        if (configDir is not null)
        {
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(configDir);
        }
        foreach (string a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new PostfixToolException($"{tool}: {e.Message} (is Postfix installed?)");
        }
        using (p)
        {
            var err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(30_000))
            {
                p.Kill();
                throw new PostfixToolException($"{tool} {string.Join(' ', args)}: no answer within 30 s");
            }
            return (p.ExitCode, output, err.Result);
        }
    }
}
