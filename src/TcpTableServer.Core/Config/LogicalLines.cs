using System.Text;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Config;

/// <summary>One logical line and the number of the physical line it starts on (1-based).</summary>
public readonly record struct LogicalLine(int LineNumber, string Text);

/// <summary>
/// Postfix's readllines() (src/util/readlline.c), the one way every file we share with Postfix
/// is read: .cf parameter files, texthash: source files and <c>domain = /file</c> lists
/// (spec 6.2, 5.1). The text is an octet string (Latin-1 characters).
/// <list type="bullet">
/// <item>A physical line that is empty, holds only whitespace, or whose first non-whitespace
/// byte is <c>#</c> is skipped anywhere; it does not end a logical line.</item>
/// <item>A line that starts with whitespace (SP, TAB, VT, FF, CR) continues the logical line:
/// the newline is dropped, the line is appended with its leading whitespace.</item>
/// <item>Any other line starts a new logical line. CR of CRLF files is kept: callers remove
/// it as trailing whitespace.</item>
/// <item>Continuation text with no logical line before it (an indented first entry) is
/// dropped, together with its own continuations, with the warning "logical line must not
/// start with whitespace".</item>
/// <item>A logical line is cut at its first NUL byte with a warning: every Postfix caller
/// handles the line as a C string.</item>
/// </list>
/// </summary>
public static class LogicalLines
{
    /// <summary>The logical lines of <paramref name="text"/>; <paramref name="path"/> is for messages.</summary>
    public static IEnumerable<LogicalLine> Read(string text, string path, ILogger logger)
    {
        var current = new StringBuilder();
        int first = 0, last = 0, number = 0, pos = 0;
        while (pos < text.Length)
        {
            int nl = text.IndexOf('\n', pos);
            int end = nl < 0 ? text.Length : nl;
            int start = pos;
            pos = end + 1;
            number++;

            int i = start;
            while (i < end && PostfixSyntax.IsSpace(text[i])) i++;
            if (i == end || text[i] == '#')
                continue;                                   // blank or comment line
            if (i == start && current.Length > 0)
            {
                if (Finish(current, first, last, path, logger) is { } done) yield return done;
                current.Clear();
            }
            if (current.Length == 0) first = number;
            current.Append(text, start, end - start);
            last = number;
        }
        if (current.Length > 0 && Finish(current, first, last, path, logger) is { } final)
            yield return final;
    }

    /// <summary>The first 30 characters of <paramref name="line"/> and "..." when longer: a line quoted in a message.</summary>
    internal static string Shorten(string line) => line.Length > 30 ? line[..30] + "..." : line;

    private static LogicalLine? Finish(StringBuilder current, int first, int last, string path, ILogger logger)
    {
        string line = current.ToString();
        if (PostfixSyntax.IsSpace(line[0]))
        {
            logger.LogWarning("{Path}, line {Line}: logical line must not start with whitespace: \"{Text}\"",
                path, first, Octets.ToDisplay(Shorten(line)));
            return null;
        }
        int nul = line.IndexOf('\0');
        if (nul >= 0)
        {
            logger.LogWarning("{Path}, line {Lines}: text after null byte may be ignored",
                path, first == last ? $"{first}" : $"{first}-{last}");
            line = line[..nul];
        }
        return new LogicalLine(first, line);
    }
}
