using System.Text;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using static TcpTableServer.Fuzz.FuzzViolation;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// The memcached reply parser (spec 3.8, 3.9, V09, V12, V31-V34) for get (alone or grouped),
/// set and delete, with small and default line_size_limit / data_size_limit. Invariants: it
/// consumes at most what it was given; a found value is the declared data block cut at its
/// first NUL, never longer than the declared length or data_size_limit; a bad reply line
/// fails the attempt (with a warning); with eof it always completes; a complete answer on a
/// prefix of the bytes is the answer on all of them (replies arrive in pieces), and eof does
/// not change a complete answer.
/// </summary>
public sealed class MemcachedReplyTarget : FuzzTarget
{
    private const string Key = "aliases:user@example.com";

    public override string Name => "memcached-reply";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "END\r\n", "END\n", "VALUE aliases:user@example.com 0 17\r\nalice@example.org\r\nEND\r\n",
        "VALUE aliases:user@example.com 0 17 12345\r\nalice@example.org\r\nEND\r\n",
        "VALUE k 0 5\r\na\0bcd\r\nEND\r\n", "VALUE k 0 4\r\na\r\nb\r\nEND\r\n", "VALUE k 0 5\r\nhello\nEND\r\n",
        "VALUE k 0 5\r\nhello\r\nBOGUS\r\n", "VALUE k 0 -1\r\n", "VALUE k 0 10241\r\n", "ERROR\r\n",
        "SERVER_ERROR out of memory\r\n", "CLIENT_ERROR bad command line format\r\n", "STORED\r\n", "NOT_STORED\r\n",
        "EXISTS\r\n", "DELETED\r\n", "NOT_FOUND\r\n",
        "VALUE aliases:user@example.com 0 3\r\nabc\r\nVALUE other 0 1\r\nx\r\nEND\r\n",
        "VALUE other 0 1\r\nx\r\nVALUE aliases:user@example.com 0 3\r\nabc\r\nEND\r\n",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { "VALUE ", "END", "\r\n", "\n", "\r", " 0 ", "\0", "STORED", "DELETED", "NOT_FOUND", Key, " " }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    private enum Mode { Get, Set, Delete, Grouped, GroupedLast }

    public override void Run(byte[] input, Random rng)
    {
        // Small limits reach the limit checks; int.MaxValue is a legal setting too (minimum 1, no maximum).
        int lineLimit = rng.Next(8) switch { < 3 => 1 + rng.Next(64), 3 => int.MaxValue, _ => 1024 };
        int dataLimit = rng.Next(8) switch { < 3 => 1 + rng.Next(64), 3 => int.MaxValue - rng.Next(3), _ => 10240 };
        var mode = (Mode)rng.Next(5);
        var parser = new MemcachedReplyParser(lineLimit, dataLimit, "memcache:/etc/postfix/aliases.cf");

        var full = Parse(parser, mode, input, eof: false);
        var fullEof = Parse(parser, mode, input, eof: true);
        Check(fullEof.Status == ParseStatus.Complete, "with eof the reply did not complete");
        if (full.Status == ParseStatus.Complete) Same(full, fullEof, "eof changed a complete reply");
        foreach (var r in new[] { full, fullEof })
            if (r.Status == ParseStatus.Complete) CheckReply(r, input, mode, dataLimit);

        int tries = input.Length <= 64 ? input.Length : 8;
        for (int t = 0; t < tries; t++)
        {
            int k = input.Length <= 64 ? t : rng.Next(input.Length);
            var part = Parse(parser, mode, input[..k], eof: false);
            if (part.Status == ParseStatus.Complete)
            {
                Check(full.Status == ParseStatus.Complete, $"complete on {k} bytes, needs more on all {input.Length}");
                Same(full, part, $"a prefix of {k} bytes answered differently");
            }
            var partEof = Parse(parser, mode, input[..k], eof: true);
            Check(partEof.Status == ParseStatus.Complete, "with eof a prefix did not complete");
            CheckReply(partEof, input[..k], mode, dataLimit);
        }
    }

    private readonly record struct Result(ParseStatus Status, Reply Reply, int Consumed);

    private static Result Parse(MemcachedReplyParser parser, Mode mode, byte[] input, bool eof)
    {
        ParseStatus status;
        Reply reply;
        int consumed;
        if (mode is Mode.Grouped or Mode.GroupedLast)
        {
            // A multi-key get's reply as the pipeline parses it: blocks matched to members by key.
            // Grouped: the key alone; GroupedLast: the key behind another member.
            var members = mode == Mode.Grouped
                ? new[] { MemcachedRequest.Rent(MemcachedCommand.Get, Key) }
                : new[] { MemcachedRequest.Rent(MemcachedCommand.Get, "other"), MemcachedRequest.Rent(MemcachedCommand.Get, Key) };
            var replies = new Reply[members.Length];
            status = parser.TryParseGroup(members, members.Length, input, eof, replies, out consumed, out var failure);
            reply = failure.IsFailure ? failure : replies[^1];
        }
        else
            status = parser.TryParse(mode switch { Mode.Set => MemcachedCommand.Set, Mode.Delete => MemcachedCommand.Delete, _ => MemcachedCommand.Get },
                input, eof, out reply, out consumed);
        return new Result(status, reply, consumed);
    }

    private static void Same(Result a, Result b, string what) =>
        Check(a.Status == b.Status && a.Reply == b.Reply && a.Consumed == b.Consumed,
            $"{what}: {a.Reply} / {a.Consumed} vs {b.Reply} / {b.Consumed}");

    private static void CheckReply(Result r, byte[] input, Mode mode, int dataLimit)
    {
        Check(r.Consumed >= 0 && r.Consumed <= input.Length, $"consumed {r.Consumed} of {input.Length} bytes");
        var reply = r.Reply;
        Check(!reply.IsFailure || reply.Warning is not null, "a failed attempt without its warning (spec 3.10)");
        Check(reply.Verdict != Verdict.ConnectFailed, "the parser reported a connect failure");
        int lf = Array.IndexOf(input, (byte)'\n');
        string firstLine = lf < 0 ? "" : Line(input[..lf]);
        if (mode is Mode.Set or Mode.Delete)
        {
            bool success = reply.Verdict == Verdict.Done && reply.Status == (byte)UpdateStatus.Success;
            Check(!success || firstLine == (mode == Mode.Set ? "STORED" : "DELETED"), $"success without {(mode == Mode.Set ? "STORED" : "DELETED")}");
            return;
        }
        if (reply.IsFailure || reply.Status != (byte)LookupStatus.Found)
        {
            Check(reply.Value is null, "a value with a miss or a failure");
            return;
        }
        // Found: its VALUE line (the first line; for a multi-key get, the line naming the key)
        // declares n (0 <= n <= data_size_limit), the value is the n bytes after it cut at NUL.
        Check(reply.Value is not null, "found without a value");
        if (mode is Mode.GroupedLast)
        {
            int start = FindLine(input, Encoding.Latin1.GetBytes($"VALUE {Key} "));
            Check(start >= 0, "a grouped get found its key without a VALUE line naming it");
            input = input[start..];
            lf = Array.IndexOf(input, (byte)'\n');
            firstLine = Line(input[..lf]);
        }
        Check(MemcachedReplyParser.TryScanValueLine(Encoding.Latin1.GetBytes(firstLine), out long n), "found without a VALUE line");
        Check(n >= 0 && n <= dataLimit, $"found with declared length {n} outside 0..{dataLimit}");
        Check(reply.Value!.Length <= n && reply.Value.Length <= dataLimit, "value longer than declared or than data_size_limit");
        Check(lf + 1 + n + 2 <= input.Length && input[lf + 1 + (int)n] == (byte)'\r' && input[lf + 2 + (int)n] == (byte)'\n',
            "found without the data block's CR LF (V33)");
        byte[] data = input[(lf + 1)..(lf + 1 + (int)n)];
        int nul = Array.IndexOf(data, (byte)0);
        Check(reply.Value == Encoding.Latin1.GetString(nul < 0 ? data : data[..nul]), "value is not the data block cut at NUL (V12)");
        if (mode is Mode.Grouped or Mode.GroupedLast)
            Check(firstLine.StartsWith($"VALUE {Key} ", StringComparison.Ordinal), "a grouped get took another key's block");
    }

    /// <summary>The offset of the first line that starts with <paramref name="prefix"/>, or -1.</summary>
    private static int FindLine(byte[] input, byte[] prefix)
    {
        for (int at = 0; at < input.Length; )
        {
            if (input.AsSpan(at).StartsWith(prefix)) return at;
            int lf = Array.IndexOf(input, (byte)'\n', at);
            if (lf < 0) return -1;
            at = lf + 1;
        }
        return -1;
    }

    /// <summary>Spec 3.9: the line loses one CR before the LF and is cut at a NUL.</summary>
    private static string Line(byte[] raw)
    {
        if (raw.Length > 0 && raw[^1] == (byte)'\r') raw = raw[..^1];
        int nul = Array.IndexOf(raw, (byte)0);
        return Encoding.Latin1.GetString(nul < 0 ? raw : raw[..nul]);
    }
}
