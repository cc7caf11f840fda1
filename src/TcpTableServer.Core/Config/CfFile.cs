using System.Text;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Config;

/// <summary>
/// Reader for Postfix .cf parameter files such as memcache_table(5) files (spec section 6),
/// byte-compatible with Postfix's readllines() (<see cref="LogicalLines"/>) + split_nameval():
/// the file is read as an octet string (Latin-1), every value keeps the file and the line
/// where its logical line starts.
/// </summary>
public static class CfFile
{
    /// <summary>
    /// name -> value with file and line (names are case-sensitive); the last duplicate wins.
    /// Unknown names are kept but warned about. Throws <see cref="ConfigException"/> for a
    /// missing/unreadable file or a fatal syntax error (spec 6.3).
    /// </summary>
    public static IReadOnlyDictionary<string, ConfigValue> Read(string path, ILogger logger) =>
        Read(path, logger, MemcacheParameterNames.IsMemcache, "memcache_table(5)");

    /// <summary>
    /// As <see cref="Read(string, ILogger)"/> for another table type's .cf file (pgsql_table(5),
    /// sqlite_table(5)): names that <paramref name="isKnown"/> rejects are warned about as
    /// unknown <paramref name="manual"/> parameters.
    /// </summary>
    public static IReadOnlyDictionary<string, ConfigValue> Read(string path, ILogger logger, Func<string, bool> isKnown, string manual)
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
        return Parse(Encoding.Latin1.GetString(bytes), path, logger, isKnown, manual);
    }

    /// <summary>Parses .cf text (an octet string); <paramref name="file"/> is used in messages only.</summary>
    internal static IReadOnlyDictionary<string, ConfigValue> Parse(string text, string file, ILogger logger) =>
        Parse(text, file, logger, MemcacheParameterNames.IsMemcache, "memcache_table(5)");

    private static IReadOnlyDictionary<string, ConfigValue> Parse(string text, string file, ILogger logger,
        Func<string, bool> isKnown, string manual)
    {
        var result = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        foreach (var (firstLine, line) in LogicalLines.Read(text, file, logger))
        {
            var entry = SplitNameValue(line, file, firstLine);
            if (result.TryGetValue(entry.Name, out var earlier) && earlier.Value != entry.Value)
                logger.LogWarning("{File}:{Line}: overriding earlier entry for \"{Name}\" (line {EarlierLine})",
                    file, firstLine, entry.Name, earlier.Line);
            if (!isKnown(entry.Name))
                logger.LogWarning("{File}:{Line}: unknown {Manual} parameter \"{Name}\" ignored (names are case-sensitive)",
                    file, firstLine, manual, entry.Name);
            result[entry.Name] = entry;
        }
        return result;
    }

    /// <summary>split_nameval(): name, optional whitespace, '=', trimmed value (spec 6.3).</summary>
    private static ConfigValue SplitNameValue(string line, string file, int lineNo)
    {
        int np = 0;
        while (np < line.Length && PostfixSyntax.IsSpace(line[np])) np++;
        if (np == line.Length || line[np] == '=')
            throw new ConfigException($"missing attribute name: \"{LogicalLines.Shorten(line)}\"", file, lineNo);
        int ep = np;
        while (ep < line.Length && !PostfixSyntax.IsSpace(line[ep]) && line[ep] != '=') ep++;
        int cp = ep;
        while (cp < line.Length && PostfixSyntax.IsSpace(line[cp])) cp++;
        if (cp == line.Length || line[cp] != '=')
            throw new ConfigException($"missing '=' after attribute name: \"{LogicalLines.Shorten(line)}\"", file, lineNo);
        int vs = cp + 1, ve = line.Length;
        while (vs < ve && PostfixSyntax.IsSpace(line[vs])) vs++;
        while (ve > vs && PostfixSyntax.IsSpace(line[ve - 1])) ve--;
        return new ConfigValue(line[np..ep], line[vs..ve], file, lineNo);
    }
}
