using System.Reflection;
using System.Text.RegularExpressions;
using TcpTableServer.Config;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Deployment;

/// <summary>
/// packaging/man: tcptable.ini(5) documents exactly the keys the INI loader accepts (its
/// known-key arrays, read by reflection, and the memcache_table(5) and policy names), so a key
/// added to the loader without a man page entry, or one documented but gone, fails here;
/// tcptableserver(8) names every verb of Program.cs; groff renders both without a warning.
/// </summary>
[TestFixture, Category("Deployment")]
public class ManPageTests
{
    private static string Man(string name) => File.ReadAllText(Path.Combine(Repo.Root(), "packaging", "man", name));

    /// <summary>The text between ".SH heading" and the next .SH.</summary>
    private static string Section(string page, string heading)
    {
        var m = Regex.Match(page, $@"^\.SH {Regex.Escape(heading)}\n(.*?)(?=^\.SH |\z)", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.That(m.Success, $".SH {heading} is missing");
        return m.Groups[1].Value;
    }

    /// <summary>The keys a section documents: each ".TP" entry whose tag line is ".B key" or ".BI key= ARG".</summary>
    private static string[] Tags(string section, string pattern) =>
        [.. Regex.Matches(section, $@"^\.TP\n{pattern}", RegexOptions.Multiline).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal)];

    private static void SameKeys(string[] documented, IEnumerable<string> accepted)
    {
        Assert.That(accepted.Except(documented, StringComparer.Ordinal), Is.Empty, "accepted by the loader, missing in tcptable.ini(5)");
        Assert.That(documented.Except(accepted, StringComparer.Ordinal), Is.Empty, "in tcptable.ini(5), refused by the loader");
        Assert.That(documented, Is.Unique, "documented twice");
    }

    private static string[] LoaderKeys(string field) =>
        (string[])typeof(ServerConfigLoader).GetField(field, BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;

    [Test]
    public void IniPage_ServerSection_ListsExactlyTheLoadersServerKeys()
    {
        var documented = Tags(Section(Man("tcptable.ini.5"), "\"[server] SECTION\""), @"\.B ([a-z0-9_]+)\n");

        SameKeys(documented, LoaderKeys("ServerKeys"));
    }

    [Test]
    public void IniPage_MapSections_ListExactlyTheLoadersMapKeys_AndEveryMemcacheTableParameter()
    {
        var accepted = LoaderKeys("MapServerKeys").Concat(MemcacheParameterNames.Memcache)
            .Concat(MemcacheParameterNames.PolicyBooleans).Concat(MemcacheParameterNames.PolicyIntegers)
            .Concat(MemcacheParameterNames.PolicyStrings);

        var documented = Tags(Section(Man("tcptable.ini.5"), "\"[maps:NAME] SECTIONS\""), @"\.B ([a-z0-9_]+)\n");

        SameKeys(documented, accepted);
    }

    [Test]
    public void IniPage_Listeners_ListExactlyTheListenerOptions()
    {
        var documented = Tags(Section(Man("tcptable.ini.5"), "LISTENERS"), @"\.BI ([a-z_]+)= ");

        SameKeys(documented, IniValues.ListenerOptions);
    }

    [Test]
    public void ServerPage_NamesEveryVerbOfTheCommandLine()
    {
        string program = File.ReadAllText(Path.Combine(Repo.Root(), "src", "TcpTableServer", "Program.cs"));
        var verbs = Regex.Matches(program, @"new Command\(""([a-z]+)""").Select(m => m.Groups[1].Value).ToArray();
        string commands = Section(Man("tcptableserver.8"), "COMMANDS");
        string synopsis = Section(Man("tcptableserver.8"), "SYNOPSIS");

        Assert.That(verbs, Is.Not.Empty);
        foreach (var verb in verbs)
        {
            Assert.That(commands, Does.Match($@"(?m)^\.B {verb}\b"), $"COMMANDS has no entry for {verb}");
            Assert.That(synopsis, Does.Match($@"(?m)^\.B {verb}$"), $"SYNOPSIS has no line for {verb}");
        }
    }

    [TestCase("tcptableserver.8")]
    [TestCase("tcptable.ini.5")]
    public void Page_RendersWithoutGroffWarnings(string page)
    {
        if (Tool.Find("groff") is null) Assert.Ignore("groff is missing (Debian package groff-base)");

        var r = Tool.Run("groff", ["-ww", "-man", "-z", Path.Combine(Repo.Root(), "packaging", "man", page)]);

        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        Assert.That(r.Stdout + r.Stderr, Is.Empty);
    }
}
