using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>The three commands of spec 3.8.</summary>
internal enum MemcachedCommand : byte { Get, Set, Delete }

/// <summary>
/// Where a <c>get</c> attempt sits in its command line: alone (<c>get k</c>, the exact bytes
/// of spec 3.8), or one key of a multi-key <c>get k1 k2 ...</c> that the pipeline formed from
/// gets queued together: its reply is a <c>VALUE</c> block if the key is found, and
/// the last key also reads the <c>END</c>.
/// </summary>
internal enum GetGroup : byte { Single, Member, Last }

/// <summary>How one attempt of a command ended (spec 3.9 attempt loop).</summary>
internal enum Verdict : byte
{
    /// <summary>A definitive answer; the connection stays.</summary>
    Done,
    /// <summary>A definitive answer, but the connection must be closed (V31).</summary>
    DoneThenClose,
    /// <summary>A failed attempt: close, pause, retry on a new connection.</summary>
    Failed,
    /// <summary>
    /// A failed attempt whose reply was a complete, well-formed error that memcached answers
    /// without disturbing the stream (see <see cref="MemcachedReplyParser"/>): pause and retry
    /// as <see cref="Failed"/>, but the connection and the other requests on it stay.
    /// </summary>
    FailedInSync,
    /// <summary>Connecting failed: the attempt loop stops at once (V17).</summary>
    ConnectFailed,
    /// <summary>
    /// Not answered: the connection closed for another request's sake (its error, its
    /// timeout, memcached closing) before this request's reply came. Sent again at once,
    /// without a pause and without counting as an attempt (bounded by max_try replays).
    /// </summary>
    Replay,
}

/// <summary>The causes of the warnings of spec 3.10, each rate limited on its own per map.</summary>
internal enum MemcacheWarning : byte
{
    None,
    Connect,
    IoError,
    UnexpectedReply,
    Eof,
    UpdateFailed,
    DeleteFailed,
    DataTooLong,
    SkipUpdate,
}

/// <summary>
/// The outcome of one attempt: a verdict, the result (<see cref="LookupStatus"/> for get,
/// <see cref="UpdateStatus"/> for set and delete, as a byte), the value of a hit, and the
/// warning to log should a failed attempt be a retry (spec 3.10) with its cause.
/// </summary>
internal readonly record struct Reply(Verdict Verdict, byte Status, string? Value = null, string? Warning = null,
    MemcacheWarning Cause = MemcacheWarning.None)
{
    public static Reply Failed(MemcacheWarning cause, string warning) => new(Verdict.Failed, 0, null, warning, cause);

    /// <summary>This failure, the connection staying usable.</summary>
    public Reply InSync() => this with { Verdict = Verdict.FailedInSync };

    /// <summary>A failed attempt in either form.</summary>
    public bool IsFailure => Verdict is Verdict.Failed or Verdict.FailedInSync;
}

/// <summary>Parse state of a reply that may not be complete in the buffer yet.</summary>
internal enum ParseStatus : byte { NeedMoreData, Complete }

/// <summary>
/// Parses memcached replies straight from the receive buffer (spec 3.8, 3.9): line reading
/// with <c>line_size_limit</c>, <c>VALUE</c> lines scanned like sscanf, data blocks of at most
/// <c>data_size_limit</c> bytes followed by exactly CR LF. Allocation free except for a found
/// value and for warning texts. With <c>eof</c> set, missing bytes will never arrive and the
/// incomplete reply gets its failure verdict.
/// </summary>
internal sealed class MemcachedReplyParser(int lineSizeLimit, int dataSizeLimit, string tableName)
{
    private readonly string _ioError = $"database {tableName}: I/O error";
    private readonly string _dictName = DictName(tableName);
    private readonly string _eofError = $"{DictName(tableName)}: EOF receiving memcache server reply";
    private Reply EofFailure => Reply.Failed(MemcacheWarning.Eof, _eofError);
    private static string DictName(string table) =>
        table.StartsWith("memcache:", StringComparison.Ordinal) ? table[9..] : table;
    private static readonly Reply NotFound = new(Verdict.Done, (byte)LookupStatus.NotFound);
    private static readonly Reply Stored = new(Verdict.Done, (byte)UpdateStatus.Success);
    private static readonly Reply Deleted = new(Verdict.Done, (byte)UpdateStatus.Success);
    private static readonly Reply DeleteNotFound = new(Verdict.Done, (byte)UpdateStatus.Fail);

    /// <summary>The warning of an attempt that failed on I/O (also for requests failed by a teardown).</summary>
    public string IoError => _ioError;

    /// <summary>Bytes a complete reply may need beyond the data block (for buffer sizing).</summary>
    public int LineSizeLimit => lineSizeLimit;

    /// <summary>
    /// Parses the reply to <paramref name="command"/> at the start of <paramref name="input"/>.
    /// A failed attempt is <see cref="Verdict.FailedInSync"/> (the connection and the requests
    /// behind it stay) only where memcached 1.6 is known to keep the reply stream in step
    /// after it (measured with memcached 1.6.18 on pipelined commands, docs/reliability.md):
    /// <list type="bullet">
    /// <item>delete: <c>ERROR</c>, <c>CLIENT_ERROR ...</c>, <c>SERVER_ERROR ...</c>;</item>
    /// <item>set: <c>NOT_STORED</c>, <c>EXISTS</c>, <c>NOT_FOUND</c>, and <c>SERVER_ERROR ...</c>
    /// (memcached swallows the data block: "object too large for cache", "out of memory
    /// storing object"). Not <c>CLIENT_ERROR</c> or <c>ERROR</c>: memcached then reads the data
    /// block as a command of its own and answers it too;</item>
    /// <item>get: <c>ERROR</c>. Not <c>CLIENT_ERROR</c> or <c>SERVER_ERROR</c>: memcached then
    /// discards replies it had stacked for earlier commands (a <c>STORED</c> was lost), so the
    /// replies in flight can no longer be matched.</item>
    /// </list>
    /// Anything else that fails an attempt closes the connection (<see cref="Verdict.Failed"/>).
    /// </summary>
    public ParseStatus TryParse(MemcachedCommand command, ReadOnlySpan<byte> input, bool eof, out Reply reply, out int consumed) =>
        TryParse(command, null, input, eof, out reply, out consumed);

    /// <summary>
    /// As above; a get's <c>VALUE</c> line must name <paramref name="key"/> when it is given
    /// (spec 3.13: Postfix accepts any key, V32; on a connection shared by many requests a
    /// block for another key is never trusted: unexpected reply, the connection closes).
    /// </summary>
    public ParseStatus TryParse(MemcachedCommand command, string? key, ReadOnlySpan<byte> input, bool eof, out Reply reply, out int consumed)
    {
        consumed = 0;
        if (!TryReadReplyLine(input, eof, out var line, out int used, out reply, out var early)) return early;
        consumed = used;
        switch (command)
        {
            case MemcachedCommand.Set:
                reply = line.SequenceEqual("STORED"u8) ? Stored : UpdateFailed(line);
                if (reply.IsFailure && (line.SequenceEqual("NOT_STORED"u8) || line.SequenceEqual("EXISTS"u8)
                    || line.SequenceEqual("NOT_FOUND"u8) || line.StartsWith("SERVER_ERROR"u8)))
                    reply = reply.InSync();
                return ParseStatus.Complete;
            case MemcachedCommand.Delete:
                reply = line.SequenceEqual("DELETED"u8) ? Deleted
                    : line.SequenceEqual("NOT_FOUND"u8) ? DeleteNotFound
                    : DeleteFailed(line);
                if (reply.IsFailure && IsErrorLine(line)) reply = reply.InSync();
                return ParseStatus.Complete;
        }
        if (line.SequenceEqual("END"u8))
        {
            reply = NotFound;
            return ParseStatus.Complete;
        }
        if (!TryValueLength(line, out int length) || (key is not null && !ValueKeyIs(line, key)))
        {
            reply = Unexpected(line);
            if (line.SequenceEqual("ERROR"u8)) reply = reply.InSync();
            return ParseStatus.Complete;
        }
        return TryParseBlock(input[used..], length, eof, true, ref reply, ref consumed);
    }

    /// <summary>
    /// The whole reply to one multi-key <c>get</c> line whose keys are
    /// <paramref name="members"/>[0..<paramref name="count"/>): <c>VALUE</c> blocks matched to
    /// the members by key, in any order, then <c>END</c>; members without a block are not
    /// found. Nothing is decided before the <c>END</c> is in <paramref name="input"/>, so no
    /// member is told "not found" on the strength of a reply that then turns out wrong. A
    /// block for a key not on the line (or twice), a bad length, a data block not ended by
    /// CR LF, or any other line fails the whole reply (<paramref name="failure"/>; the
    /// connection closes). One pass: the blocks' places are kept on the stack and the values
    /// made only at the <c>END</c> of a sound reply, into <paramref name="replies"/>.
    /// </summary>
    public ParseStatus TryParseGroup(MemcachedRequest[] members, int count, ReadOnlySpan<byte> input, bool eof,
        Reply[] replies, out int consumed, out Reply failure)
    {
        consumed = 0;
        Span<int> blockAt = stackalloc int[count];   // where each member's data block starts; 0: none yet
        Span<int> blockLength = stackalloc int[count];
        blockAt.Clear();
        int pos = 0;
        while (true)
        {
            if (!TryReadReplyLine(input[pos..], eof, out var line, out int used, out failure, out var early)) return early;
            pos += used;
            if (line.SequenceEqual("END"u8))
            {
                consumed = pos;
                for (int i = 0; i < count; i++)
                    replies[i] = blockAt[i] == 0 ? NotFound : Found(input.Slice(blockAt[i], blockLength[i]), Verdict.Done);
                return ParseStatus.Complete;
            }
            int m = -1;
            if (TryValueLength(line, out int length))
                for (int i = 0; i < count && m < 0; i++)
                    if (blockAt[i] == 0 && ValueKeyIs(line, members[i].Key)) m = i;
            if (m < 0)
            {
                failure = Unexpected(line);
                return ParseStatus.Complete;
            }
            var status = CheckBlock(input[pos..], length, eof, out failure);
            if (status == ParseStatus.NeedMoreData || failure.IsFailure) return status;
            blockAt[m] = pos;               // after a VALUE line: never 0
            blockLength[m] = length;
            pos += length + 2;
        }
    }

    /// <summary>The declared length of a <c>VALUE</c> line, when it scans and is 0..data_size_limit (V29).</summary>
    private bool TryValueLength(ReadOnlySpan<byte> line, out int length)
    {
        bool ok = TryScanValueLine(line, out long declared) && declared >= 0 && declared <= dataSizeLimit;
        length = ok ? (int)declared : 0;
        return ok;
    }

    /// <summary>
    /// The data block of <paramref name="length"/> bytes at the start of <paramref name="rest"/>
    /// and the CR LF after it (V33): NeedMoreData while it may still arrive, else Complete,
    /// with <paramref name="failure"/> set when the block is cut short or not ended by CR LF.
    /// </summary>
    private ParseStatus CheckBlock(ReadOnlySpan<byte> rest, int length, bool eof, out Reply failure)
    {
        failure = default;
        if (rest.Length - length < 2)   // not length + 2: that overflows for a length near int.MaxValue
        {
            if (!eof && (rest.Length <= length || rest[length] == (byte)'\r')) return ParseStatus.NeedMoreData;
            failure = EofFailure;
        }
        else if (rest[length] != (byte)'\r' || rest[length + 1] != (byte)'\n')
            failure = EofFailure;
        return ParseStatus.Complete;
    }

    /// <summary>A hit: the data block cut at the first NUL (V12), its string from the pool.</summary>
    private static Reply Found(ReadOnlySpan<byte> data, Verdict verdict)
    {
        int nul = data.IndexOf((byte)0);
        return new Reply(verdict, (byte)LookupStatus.Found, StringPool.FromBytes(nul < 0 ? data : data[..nul]));
    }

    /// <summary>Whether the first token after "VALUE " is <paramref name="key"/> (octets).</summary>
    private static bool ValueKeyIs(ReadOnlySpan<byte> line, string key)
    {
        if (line.Length < 6 + key.Length + 1 || line[5] != (byte)' ' || line[6 + key.Length] != (byte)' ') return false;
        var token = line.Slice(6, key.Length);
        for (int i = 0; i < token.Length; i++)
            if (token[i] != key[i]) return false;
        return true;
    }

    /// <summary>The data block, its CR LF, and (<paramref name="end"/>) the END line that must follow (V31).</summary>
    private ParseStatus TryParseBlock(ReadOnlySpan<byte> rest, int length, bool eof, bool end, ref Reply reply, ref int consumed)
    {
        var status = CheckBlock(rest, length, eof, out var failure);
        if (status == ParseStatus.NeedMoreData) return status;
        if (failure.IsFailure)
        {
            reply = failure;
            return ParseStatus.Complete;
        }
        bool clean = true;
        int used = 0;
        if (end)
        {
            var endStatus = TryReadLine(rest[(length + 2)..], eof, out var endLine, out used);
            if (endStatus == LineStatus.NeedMoreData) return ParseStatus.NeedMoreData;
            clean = endStatus == LineStatus.Line && endLine.SequenceEqual("END"u8);
        }

        reply = Found(rest[..length], clean ? Verdict.Done : Verdict.DoneThenClose);
        consumed += length + 2 + used;
        return ParseStatus.Complete;
    }

    private enum LineStatus : byte { NeedMoreData, Line, Error }

    /// <summary>The first line of a reply; false with the parse status when there is none (yet), or an I/O failure.</summary>
    private bool TryReadReplyLine(ReadOnlySpan<byte> input, bool eof, out ReadOnlySpan<byte> line, out int used,
        out Reply reply, out ParseStatus early)
    {
        reply = default;
        var status = TryReadLine(input, eof, out line, out used);
        early = status == LineStatus.NeedMoreData ? ParseStatus.NeedMoreData : ParseStatus.Complete;
        if (status == LineStatus.Error) reply = Reply.Failed(MemcacheWarning.IoError, _ioError);
        return status == LineStatus.Line;
    }

    /// <summary>
    /// Spec 3.9: at most line_size_limit bytes up to LF; at the limit a CR must be followed
    /// by LF. The content loses the LF and one preceding CR and is cut at a NUL.
    /// </summary>
    private LineStatus TryReadLine(ReadOnlySpan<byte> input, bool eof, out ReadOnlySpan<byte> line, out int consumed)
    {
        line = default;
        consumed = 0;
        int window = Math.Min(input.Length, lineSizeLimit);
        int lf = input[..window].IndexOf((byte)'\n');
        int contentEnd;
        if (lf >= 0)
        {
            contentEnd = lf;
            consumed = lf + 1;
        }
        else if (input.Length < lineSizeLimit)
        {
            return eof ? LineStatus.Error : LineStatus.NeedMoreData;
        }
        else if (input[lineSizeLimit - 1] != (byte)'\r')
        {
            return LineStatus.Error;
        }
        else if (input.Length == lineSizeLimit)
        {
            return eof ? LineStatus.Error : LineStatus.NeedMoreData;
        }
        else if (input[lineSizeLimit] != (byte)'\n')
        {
            return LineStatus.Error;
        }
        else
        {
            contentEnd = lineSizeLimit;
            consumed = lineSizeLimit + 1;
        }
        line = input[..contentEnd];
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        int nul = line.IndexOf((byte)0);
        if (nul >= 0) line = line[..nul];
        return LineStatus.Line;
    }

    private Reply UpdateFailed(ReadOnlySpan<byte> line) =>
        Reply.Failed(MemcacheWarning.UpdateFailed, $"database {tableName}: update failed: {Display(line, 100)}");

    private Reply DeleteFailed(ReadOnlySpan<byte> line) =>
        Reply.Failed(MemcacheWarning.DeleteFailed, $"database {tableName}: delete failed: {Display(line, 30)}");

    private Reply Unexpected(ReadOnlySpan<byte> line) =>
        Reply.Failed(MemcacheWarning.UnexpectedReply, $"{_dictName}: unexpected memcache server reply: {Display(line, 30)}");

    /// <summary>
    /// What memcached answers to a command it rejects without reading it (a key over
    /// <see cref="MemcachedClient.MaxKeyLength"/> bytes, negative flags: spec V40, V81),
    /// as a failed attempt with Postfix's warning for that reply; the client makes it up
    /// instead of sending such a command on a shared connection.
    /// </summary>
    public Reply Rejected(MemcachedCommand command)
    {
        var line = "CLIENT_ERROR bad command line format"u8;
        return command switch
        {
            MemcachedCommand.Set => UpdateFailed(line),
            MemcachedCommand.Delete => DeleteFailed(line),
            _ => Unexpected(line),
        };
    }

    /// <summary><c>ERROR</c>, <c>CLIENT_ERROR ...</c> or <c>SERVER_ERROR ...</c>: memcached's error replies.</summary>
    private static bool IsErrorLine(ReadOnlySpan<byte> line) =>
        line.SequenceEqual("ERROR"u8) || line.StartsWith("CLIENT_ERROR "u8) || line.StartsWith("SERVER_ERROR "u8);

    /// <summary>
    /// The first <paramref name="max"/> characters of a reply line for a warning, as Postfix
    /// shows them, except that the key of a <c>VALUE</c> line is replaced by <c>[key]</c>:
    /// keys appear only at debug level.
    /// </summary>
    private static string Display(ReadOnlySpan<byte> line, int max)
    {
        string text = Octets.FromBytes(line);
        if (text.StartsWith("VALUE ", StringComparison.Ordinal))
        {
            int start = 6;
            while (start < text.Length && text[start] == ' ') start++;
            int end = text.IndexOf(' ', start);
            text = text[..start] + "[key]" + (end < 0 ? "" : text[end..]);
        }
        return Octets.ToDisplay(text.Length <= max ? text : text[..max]);
    }

    /// <summary>
    /// <c>sscanf(line, "VALUE %*s %*s %ld", &amp;n) == 1</c>: literal "VALUE", two
    /// whitespace-separated tokens (not checked), then a signed decimal; the rest is ignored.
    /// </summary>
    public static bool TryScanValueLine(ReadOnlySpan<byte> line, out long length)
    {
        length = 0;
        if (!line.StartsWith("VALUE"u8)) return false;
        int i = 5;
        for (int token = 0; token < 2; token++)
        {
            SkipSpace(line, ref i);
            int start = i;
            while (i < line.Length && !IsSpace(line[i])) i++;
            if (i == start) return false;
        }
        SkipSpace(line, ref i);
        bool negative = false;
        if (i < line.Length && line[i] is (byte)'+' or (byte)'-') negative = line[i++] == (byte)'-';
        int digits = i;
        long n = 0;
        for (; i < line.Length && line[i] is >= (byte)'0' and <= (byte)'9'; i++)
            n = n > (long.MaxValue - 9) / 10 ? long.MaxValue : n * 10 + (line[i] - '0');
        if (i == digits) return false;
        length = negative ? -n : n;
        return true;
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static void SkipSpace(ReadOnlySpan<byte> s, ref int i)
    {
        while (i < s.Length && IsSpace(s[i])) i++;
    }
}
