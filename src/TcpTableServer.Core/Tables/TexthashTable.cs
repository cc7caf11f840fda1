using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>texthash:/path</c> (Postfix dict_thash): a postmap(1)-style source file loaded once at
/// open into a read-only in-memory fixed-key table.
/// <list type="bullet">
/// <item>Logical lines as Postfix readllines() (<see cref="LogicalLines"/>): blank lines and lines whose first non-blank
/// character is <c>#</c> are ignored; a line starting with whitespace continues the previous
/// logical line (the newline is dropped, the leading whitespace kept).</item>
/// <item>The key ends at the first whitespace outside double quotes (a backslash protects the
/// next character); it is kept in quoted form and ASCII-folded. The value is the rest with
/// leading and trailing whitespace removed.</item>
/// <item>A line without a key or value: warning "expected format: key whitespace value --
/// ignoring this line"; an unbalanced quote: warning, line ignored (as Postfix).</item>
/// <item>UTF-8 mode (<paramref name="utf8"/> of <see cref="Open"/>, smtputf8_enable = yes with
/// fold_keys, spec 3.3; as Debian's Postfix does, checked with postmap): a logical line that is
/// not valid UTF-8 is ignored with a warning ("non-UTF-8 input"), and keys are folded by
/// <see cref="CaseFolding.Fold(string)"/> (Unicode), so keys equal after folding are duplicates.</item>
/// <item>Duplicate keys: Postfix server processes open tables without DICT_FLAG_DUP_WARN,
/// so dict_thash refuses the whole table ("duplicate entry"); we do the same with a
/// <see cref="ConfigException"/> naming file and line (postmap -q would warn and keep the
/// first entry).</item>
/// </list>
/// </summary>
public sealed class TexthashTable : HashTable
{
    private TexthashTable(string name, IReadOnlyList<KeyValuePair<string, string>> entries, ILogger logger)
        : base(name, entries, logger) { }

    /// <param name="name">The file name as written after "texthash:".</param>
    /// <param name="path">The resolved file path.</param>
    /// <param name="utf8">UTF-8 mode: Unicode key folding, non-UTF-8 lines ignored.</param>
    public static TexthashTable Open(string name, string path, ILogger logger, bool utf8 = false)
    {
        string text;
        try
        {
            text = Octets.FromBytes(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"open database {path}: {e.Message}", inner: e);
        }
        return new TexthashTable("texthash:" + name, Parse(text, path, logger, utf8), logger);
    }

    /// <summary>
    /// Parses source text (octets) into folded entries (<see cref="PostmapSource"/>: the lines
    /// Postfix ignores are logged and ignored); <paramref name="path"/> is for messages.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Parse(string text, string path, ILogger logger, bool utf8 = false)
    {
        var entries = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (lineNumber, rawKey, value, problem) in PostmapSource.Read(text, path, logger, utf8))
        {
            if (problem is not null)
            {
                logger.LogWarning("{Path}, line {Line}: {Problem} -- ignoring this line", path, lineNumber, problem);
                continue;
            }
            string key = CaseFolding.Fold(rawKey, utf8);
            if (!seen.Add(key))
                throw new ConfigException($"duplicate entry: \"{Octets.ToDisplay(key)}\"", path, lineNumber);
            entries.Add(new(key, value));
        }
        return entries;
    }
}
