using System.Text;
using TcpTableServer.Config;
using static TcpTableServer.Fuzz.FuzzViolation;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// The server INI scanner (README "Configuration"). Invariants: the only exception is
/// <see cref="ConfigException"/> naming the file and an existing line; section names and keys
/// are trimmed and non-empty, keys hold no '=', neither repeats (case-insensitively) where the
/// reader refuses that; lines increase; writing the result back (values in quotes) and reading
/// it again gives the same sections, keys and values.
/// </summary>
public sealed class IniFileTarget : FuzzTarget
{
    private const string File = "fuzz.ini";

    public override string Name => "ini-file";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "[server]\nsocketmap = inet:127.0.0.1:9000\n\n[maps:aliases]\nconfig = aliases.cf\ntcp = inet:127.0.0.1:9001\n",
        "; comment\n# comment\n/ comment\n[server]\nmax_connections =\nshutdown_timeout = 10\n",
        "[maps:a]\nl1_ttl = \"5s\"\n[maps:A]\n", "[server\n", "[]\n", "key\n", "= v\n", "[s]\nk = 1\nK = 2\n",
        "top = 1\n[s]\n", "[s]\r\nk = v\r\n", "\xef\xbb\xbf[s]\nk = \"quoted value\"\n",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { "[", "]", "=", "\n", "\r\n", "\r", ";", "#", "/", "\"", " ", "[maps:", "[server]\n" }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override void Run(byte[] input, Random rng)
    {
        List<string> lines = Lines(input);
        IReadOnlyList<IniSection> sections;
        try
        {
            sections = IniFile.Parse(lines, File);
        }
        catch (ConfigException e)
        {
            Check(e.File == File && e.Line >= 1 && e.Line <= lines.Count, $"error names {e.File}:{e.Line} of {lines.Count} lines");
            return;
        }
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int lastLine = 0;
        foreach (var s in sections)
        {
            bool top = s.Line == 0;
            Check(top ? s.Name == "" && s == sections[0] : s.Name.Length > 0 && s.Name == s.Name.Trim() && names.Add(s.Name),
                $"bad or repeated section name \"{s.Name}\"");
            Check(top || s.Line > lastLine, "section lines do not increase");
            lastLine = s.Line;
            var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var e in s.Entries)
            {
                Check(e.Key.Length > 0 && e.Key == e.Key.Trim() && !e.Key.Contains('=') && keys.Add(e.Key), $"bad or repeated key \"{e.Key}\"");
                Check(e.Line > lastLine && e.Line <= lines.Count, "entry lines do not increase");
                lastLine = e.Line;
            }
        }
        var again = new List<string>();
        foreach (var s in sections)
        {
            if (s.Line > 0) again.Add($"[{s.Name}]");
            again.AddRange(s.Entries.Select(e => $"{e.Key} = \"{e.Value}\""));
        }
        var reread = IniFile.Parse(again, File);
        Check(reread.Count == sections.Count, "sections written back read differently");
        for (int i = 0; i < sections.Count; i++)
        {
            Check(reread[i].Name == sections[i].Name && reread[i].Entries.Count == sections[i].Entries.Count, "section written back read differently");
            for (int j = 0; j < sections[i].Entries.Count; j++)
                Check(reread[i].Entries[j].Key == sections[i].Entries[j].Key && reread[i].Entries[j].Value == sections[i].Entries[j].Value,
                    $"entry {sections[i].Entries[j].Key} written back read differently");
        }
    }

    /// <summary>What IniFile.Read gets from StreamReader: UTF-8 with BOM detection, lines split at CR, LF or CRLF.</summary>
    private static List<string> Lines(byte[] input)
    {
        using var reader = new StreamReader(new MemoryStream(input));
        var lines = new List<string>();
        while (reader.ReadLine() is { } l) lines.Add(l);
        return lines;
    }
}
