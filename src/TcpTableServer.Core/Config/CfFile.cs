using System.Text;
using Microsoft.Extensions.Logging;

namespace TcpTableServer.Config;

/// <summary>
/// Reader for Postfix .cf parameter files such as memcache_table(5) files (spec section 6),
/// byte-compatible with Postfix's readllines() + split_nameval(): the file is read as an octet
/// string (Latin-1), every value keeps the file and the line where its logical line starts.
/// </summary>
public static class CfFile
{
    /// <summary>
    /// name -> value with file and line (names are case-sensitive); the last duplicate wins.
    /// Unknown names are kept but warned about. Throws <see cref="ConfigException"/> for a
    /// missing/unreadable file or a fatal syntax error (spec 6.3).
    /// </summary>
    public static IReadOnlyDictionary<string, ConfigValue> Read(string path, ILogger logger)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ConfigException($"cannot read configuration file: {ex.Message}", path, 0, ex);
        }
        return Parse(Encoding.Latin1.GetString(bytes), path, logger);
    }

    /// <summary>Parses .cf text (an octet string); <paramref name="file"/> is used in messages only.</summary>
    internal static IReadOnlyDictionary<string, ConfigValue> Parse(string text, string file, ILogger logger)
    {
        var result = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        foreach (var (line, firstLine) in LogicalLines(text, file, logger))
        {
            var entry = SplitNameValue(line, file, firstLine);
            if (result.TryGetValue(entry.Name, out var earlier) && earlier.Value != entry.Value)
                logger.LogWarning("{File}:{Line}: overriding earlier entry for \"{Name}\" (line {EarlierLine})",
                    file, firstLine, entry.Name, earlier.Line);
            if (!MemcacheParameterNames.IsMemcache(entry.Name))
                logger.LogWarning("{File}:{Line}: unknown memcache_table(5) parameter \"{Name}\" ignored (names are case-sensitive)",
                    file, firstLine, entry.Name);
            result[entry.Name] = entry;
        }
        return result;
    }

    /// <summary>
    /// Postfix whitespace (ISSPACE: SP, TAB, LF, VT, FF, CR).
    /// </summary>
    internal static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    /// <summary>
    /// Logical lines per spec 6.2 with the number of the physical line each one starts on.
    /// Comment and blank lines are dropped anywhere; indented lines are appended verbatim.
    /// </summary>
    private static IEnumerable<(string Line, int FirstLine)> LogicalLines(string text, string file, ILogger logger)
    {
        var current = new StringBuilder();
        int firstLine = 0, lineNo = 0, pos = 0;
        while (pos < text.Length)
        {
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl;
            string physical = text[pos..end];
            pos = end + 1;
            lineNo++;

            int i = 0;
            while (i < physical.Length && IsSpace(physical[i])) i++;
            if (i == physical.Length || physical[i] == '#') continue; // blank or comment line
            if (i > 0)
            {
                if (current.Length == 0) firstLine = lineNo;       // continuation without text: warned below
                current.Append(physical);
                continue;
            }
            if (Flush(current, firstLine, file, logger) is { } done) yield return done;
            current.Append(physical);
            firstLine = lineNo;
        }
        if (Flush(current, firstLine, file, logger) is { } last) yield return last;
    }

    private static (string, int)? Flush(StringBuilder current, int firstLine, string file, ILogger logger)
    {
        if (current.Length == 0) return null;
        string line = current.ToString();
        current.Clear();
        if (IsSpace(line[0]))
        {
            logger.LogWarning("{File}:{Line}: logical line must not start with whitespace: \"{Text}\"",
                file, firstLine, Shorten(line));
            return null;
        }
        int nul = line.IndexOf('\0');
        if (nul >= 0)
        {
            // Postfix handles the line as a C string: text after a NUL byte is lost.
            logger.LogWarning("{File}:{Line}: text after null byte ignored", file, firstLine);
            line = line[..nul];
        }
        return (line, firstLine);
    }

    /// <summary>split_nameval(): name, optional whitespace, '=', trimmed value (spec 6.3).</summary>
    private static ConfigValue SplitNameValue(string line, string file, int lineNo)
    {
        int np = 0;
        while (np < line.Length && IsSpace(line[np])) np++;
        if (np == line.Length || line[np] == '=')
            throw new ConfigException($"missing attribute name: \"{Shorten(line)}\"", file, lineNo);
        int ep = np;
        while (ep < line.Length && !IsSpace(line[ep]) && line[ep] != '=') ep++;
        int cp = ep;
        while (cp < line.Length && IsSpace(line[cp])) cp++;
        if (cp == line.Length || line[cp] != '=')
            throw new ConfigException($"missing '=' after attribute name: \"{Shorten(line)}\"", file, lineNo);
        int vs = cp + 1, ve = line.Length;
        while (vs < ve && IsSpace(line[vs])) vs++;
        while (ve > vs && IsSpace(line[ve - 1])) ve--;
        return new ConfigValue(line[np..ep], line[vs..ve], file, lineNo);
    }

    private static string Shorten(string s) => s.Length > 30 ? s[..30] + "..." : s;
}
