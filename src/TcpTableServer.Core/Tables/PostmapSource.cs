using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// One logical line of a postmap(1) source file: its key and value as written (the key in
/// quoted form, not folded), or the <see cref="Problem"/> that makes Postfix ignore the line.
/// </summary>
public readonly record struct SourceEntry(int LineNumber, string Key, string Value, string? Problem)
{
    public bool IsBad => Problem is not null;
}

/// <summary>
/// postmap(1)'s INPUT FILE FORMAT, read the way dict_thash and postmap read it, for
/// <c>texthash:</c> tables and the <c>load</c> verb alike: logical lines
/// (<see cref="LogicalLines"/>), then the key up to the first whitespace outside double
/// quotes and the value as the trimmed rest (<see cref="SplitKeyValue"/>). Keys are returned
/// unfolded: folding belongs to the reader (the table type, or the map's key preparation).
/// <list type="bullet">
/// <item>UTF-8 mode (<c>utf8</c>): a logical line that is not valid UTF-8 is a problem
/// ("non-UTF-8 input"), checked before anything else as Postfix does.</item>
/// <item>An unbalanced quote, and a line without key or value, are problems (Postfix warns and
/// ignores the line; callers decide).</item>
/// <item>A key ending in ':' gets Postfix's warning "record is in "key: value" format; is this
/// an alias file?" and is kept.</item>
/// </list>
/// </summary>
public static class PostmapSource
{
    /// <summary>The entries and problem lines of <paramref name="text"/> (octets); <paramref name="path"/> is for messages.</summary>
    public static IEnumerable<SourceEntry> Read(string text, string path, ILogger logger, bool utf8 = false)
    {
        foreach (var (lineNumber, line) in LogicalLines.Read(text, path, logger))
        {
            if (utf8 && !CaseFolding.IsValidUtf8(line))
            {
                yield return Bad(lineNumber, $"non-UTF-8 input \"{Octets.ToDisplay(line)}\"");
                continue;
            }
            if (SplitKeyValue(line) is not var (key, value))
            {
                yield return Bad(lineNumber, $"unbalanced '\"' in '{Octets.ToDisplay(line)}'");
                continue;
            }
            if (key.Length == 0 || value.Length == 0)
            {
                yield return Bad(lineNumber, "expected format: key whitespace value");
                continue;
            }
            if (key.EndsWith(':'))
                logger.LogWarning("{Path}, line {Line}: record is in \"key: value\" format; is this an alias file?",
                    path, lineNumber);
            yield return new SourceEntry(lineNumber, key, value, null);
        }
    }

    private static SourceEntry Bad(int lineNumber, string problem) => new(lineNumber, "", "", problem);

    /// <summary>
    /// Splits at the first whitespace outside double quotes (backslash escapes one character);
    /// null when a quote is unbalanced. The value is trimmed of surrounding whitespace.
    /// </summary>
    internal static (string Key, string Value)? SplitKeyValue(string line)
    {
        bool inQuotes = false;
        int i = 0;
        for (; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '\\')
            {
                if (++i == line.Length) break;
            }
            else if (PostfixSyntax.IsSpace(c))
            {
                if (!inQuotes) break;
            }
            else if (c == '"')
                inQuotes = !inQuotes;
        }
        if (inQuotes) return null;
        string key = line[..Math.Min(i, line.Length)];
        string value = i < line.Length ? PostfixSyntax.TrimSpace(line[(i + 1)..]) : "";
        return (key, value);
    }
}
