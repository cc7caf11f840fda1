namespace TcpTableServer.Config;

/// <summary>One <c>key = value</c> line of an INI file (value trimmed, outer double quotes removed).</summary>
internal sealed record IniEntry(string Key, string Value, int Line);

/// <summary>One <c>[name]</c> section; <see cref="Line"/> is 0 for keys before any section.</summary>
internal sealed record IniSection(string Name, int Line, IReadOnlyList<IniEntry> Entries);

/// <summary>
/// Line-tracking scanner for the server INI file. It accepts exactly the grammar of
/// Microsoft.Extensions.Configuration.Ini (blank lines; comment lines starting with ';', '#'
/// or '/'; <c>[section]</c>; <c>key = value</c> with optional surrounding double quotes; no
/// inline comments) but reports every error as "file:line: ..." and also rejects what that
/// provider rejects without a line number (duplicate keys), plus repeated sections, which it
/// would merge silently (INI section and key names are case-insensitive there).
/// </summary>
internal static class IniFile
{
    /// <summary>Scans <paramref name="path"/>; keys before the first section land in a section named "".</summary>
    public static IReadOnlyList<IniSection> Read(string path)
    {
        string[] lines;
        try
        {
            // Same decoding as the Microsoft provider (StreamReader: UTF-8, BOM detection, CR/LF/CRLF).
            using var reader = new StreamReader(path);
            var list = new List<string>();
            while (reader.ReadLine() is { } l) list.Add(l);
            lines = [.. list];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ConfigException($"cannot read configuration file: {ex.Message}", path, 0, ex);
        }
        return Parse(lines, path);
    }

    /// <summary>Scans already split lines; <paramref name="file"/> is used in messages only.</summary>
    public static IReadOnlyList<IniSection> Parse(IReadOnlyList<string> lines, string file)
    {
        var sections = new List<IniSection>();
        var seenSections = new Dictionary<string, IniSection>(StringComparer.OrdinalIgnoreCase);
        var entries = new List<IniEntry>();
        var seenKeys = new Dictionary<string, IniEntry>(StringComparer.OrdinalIgnoreCase);
        string name = "";
        int sectionLine = 0;

        void Close()
        {
            if (sectionLine > 0 || entries.Count > 0) sections.Add(new IniSection(name, sectionLine, [.. entries]));
        }

        for (int i = 0; i < lines.Count; i++)
        {
            int lineNo = i + 1;
            string line = lines[i].Trim();
            if (line.Length == 0 || line[0] is ';' or '#' or '/') continue;

            if (line[0] == '[')
            {
                if (line[^1] != ']')
                    throw new ConfigException($"missing ']' in section header \"{line}\"", file, lineNo);
                string next = line[1..^1].Trim();
                if (next.Length == 0) throw new ConfigException("empty section name \"[]\"", file, lineNo);
                if (seenSections.TryGetValue(next, out var first))
                {
                    throw new ConfigException(first.Name == next
                        ? $"duplicate section [{next}] (first at line {first.Line})"
                        : $"section [{next}] clashes with [{first.Name}] at line {first.Line}: section names are compared case-insensitively by the INI reader, so map names must differ in more than case",
                        file, lineNo);
                }
                Close();
                name = next;
                sectionLine = lineNo;
                entries = [];
                seenKeys.Clear();
                seenSections[name] = new IniSection(name, lineNo, []);
                continue;
            }

            int eq = line.IndexOf('=');
            if (eq < 0)
                throw new ConfigException($"expected \"[section]\", \"key = value\" or a comment (';' '#' '/'), got \"{line}\"", file, lineNo);
            string key = line[..eq].Trim();
            if (key.Length == 0) throw new ConfigException($"missing key name before '=' in \"{line}\"", file, lineNo);
            string value = line[(eq + 1)..].Trim();
            if (value.Length > 1 && value[0] == '"' && value[^1] == '"') value = value[1..^1];
            if (seenKeys.TryGetValue(key, out var earlier))
                throw new ConfigException($"duplicate key \"{key}\" (first at line {earlier.Line}; keys are case-insensitive in INI files)", file, lineNo);
            var entry = new IniEntry(key, value, lineNo);
            seenKeys[key] = entry;
            entries.Add(entry);
        }
        Close();
        return sections;
    }
}
