using System.Diagnostics;
using TcpTableServer.Keys;
using TcpTableServer.Keys.PartialKeys;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer.Explain;

/// <summary>
/// The opt-in record of one lookup's life (<c>query --explain</c>): each layer of a map's
/// table stack (UTF-8 layer, L1 cache, key preparation, memcached client, backup) adds what
/// it did while a trace is attached, in the order it happened.
/// <para>
/// Attached through an <see cref="AsyncLocal{T}"/> rather than passed as an argument: the
/// trace has to cross <see cref="ITable"/> boundaries (UTF-8 layer, L1 cache, memcache table,
/// backup), and every table type shares that interface; the ambient value flows into the
/// awaits of the lookup and nowhere else. Until a process first attaches a trace (the server
/// never does; only <c>query --explain</c>), each recording site costs one read of a static
/// flag and a null check, not an AsyncLocal read (an execution-context lookup, a few per
/// request): the hit path stays at 0 B per request. With a trace, the sites allocate their
/// events freely.
/// </para>
/// A shared L1 flight started by another caller is not traced (its inner lookup runs in the
/// starter's context); the CLI is the only caller in its process, so explain never joins one.
/// </summary>
public sealed class LookupTrace
{
    private static readonly AsyncLocal<LookupTrace?> Attached = new();

    /// <summary>Set by the first <see cref="Attach"/>; until then no trace can be attached anywhere.</summary>
    private static volatile bool s_used;

    private readonly List<TraceEvent> _events = [];
    private readonly long _start = Stopwatch.GetTimestamp();

    /// <summary>The trace attached to the current lookup, or null (the server: always null).</summary>
    public static LookupTrace? Current => s_used ? Attached.Value : null;

    /// <summary>Attaches <paramref name="trace"/> to what runs until the scope is disposed.</summary>
    public static Scope Attach(LookupTrace trace)
    {
        s_used = true;
        var previous = Attached.Value;
        Attached.Value = trace;
        return new Scope(previous);
    }

    /// <summary>Restores the trace attached before <see cref="Attach"/>.</summary>
    public readonly struct Scope(LookupTrace? previous) : IDisposable
    {
        public void Dispose() => Attached.Value = previous;
    }

    /// <summary>The events so far, in order.</summary>
    public IReadOnlyList<TraceEvent> Events
    {
        get { lock (_events) return [.. _events]; }
    }

    /// <summary>Milliseconds since the trace began.</summary>
    public double Now => Stopwatch.GetElapsedTime(_start).TotalMilliseconds;

    private void Add(TraceEvent e)
    {
        lock (_events) _events.Add(e);
    }

    /// <summary>The UTF-8 layer (smtputf8_enable = yes) of <paramref name="table"/> got <paramref name="key"/>.</summary>
    public void Utf8(string table, string key, bool valid, bool foldKeys, string? folded) =>
        Add(new Utf8Event(Now, table, key, valid, foldKeys, folded));

    /// <summary>The L1 cache of <paramref name="table"/> was asked for <paramref name="cacheKey"/>.</summary>
    public void L1(string table, string cacheKey, L1Outcome outcome, LookupResult? hit = null) =>
        Add(new L1Event(Now, table, cacheKey, outcome, hit));

    /// <summary>The domain list decided on the original key (spec 3.2 step 2).</summary>
    public void Domain(string key, DomainCheck check) => Add(new DomainEvent(Now, key, check.Matches, check.Error));

    /// <summary>Key preparation steps 3-5: the folded key, its key_format expansion, its digest.</summary>
    public void KeySteps(bool foldKeys, string folded, KeyFormat format, string? expanded, KeyDigest? digest, string? digested) =>
        Add(new KeyStepsEvent(Now, foldKeys, folded, format.Template, expanded, digest?.Name, digested));

    /// <summary>The result of key preparation (spec 3.2): the memcached and backup keys, or a skip or error.</summary>
    public void Prepared(string key, PreparedKey prepared) => Add(new PreparedEvent(Now, key, prepared));

    /// <summary>One memcached command attempt begins (a set with its value's length); the client fills in the rest as it ends.</summary>
    internal MemcachedAttempt Attempt(MemcachedCommand command, string key, int number, bool replay, int? valueLength)
    {
        var a = new MemcachedAttempt(Now, key, number, replay) { Command = command, ValueLength = valueLength };
        Add(a);
        return a;
    }

    /// <summary>memcache_nodes: the key's node <paramref name="node"/> is ejected, so it was not asked.</summary>
    public void NodeSkipped(string node, string command) => Add(new NodeSkippedEvent(Now, node, command));

    /// <summary>The backup table <paramref name="table"/> answered <paramref name="key"/>.</summary>
    public void Backup(string table, string key, LookupResult result) => Add(new BackupEvent(Now, table, key, result));

    /// <summary>The write-back after a backup hit (spec 3.4).</summary>
    public void WriteBack(WriteBackMode mode, UpdateResult? result) => Add(new WriteBackEvent(Now, mode, result));

    /// <summary>partial_keys: the search of <paramref name="use"/> for <paramref name="key"/> will ask these probes.</summary>
    public void PartialSearch(PartialKeyUse use, string key, IReadOnlyList<Probe> probes) =>
        Add(new PartialSearchEvent(Now, use, key, [.. probes]));

    /// <summary>partial_keys: probe <paramref name="index"/> (from 0) is asked of the map.</summary>
    public void PartialProbe(int index, Probe probe) => Add(new PartialProbeEvent(Now, index, probe));

    /// <summary>partial_keys: the search ended on probe <paramref name="index"/> (-1: every probe missed) with <paramref name="answer"/>.</summary>
    public void PartialAnswer(int index, Probe probe, LookupResult found, LookupResult answer) =>
        Add(new PartialAnswerEvent(Now, index, probe, found, answer));
}

public sealed record PartialSearchEvent(double AtMs, PartialKeyUse Use, string Key, IReadOnlyList<Probe> Probes) : TraceEvent(AtMs);

public sealed record PartialProbeEvent(double AtMs, int Index, Probe Probe) : TraceEvent(AtMs);

public sealed record PartialAnswerEvent(double AtMs, int Index, Probe Probe, LookupResult Found, LookupResult Answer) : TraceEvent(AtMs);

/// <summary>One recorded step; <see cref="AtMs"/> is milliseconds since the trace began.</summary>
public abstract record TraceEvent(double AtMs);

public sealed record Utf8Event(double AtMs, string Table, string Key, bool Valid, bool FoldKeys, string? Folded) : TraceEvent(AtMs);

public enum L1Outcome : byte { Hit, MissStarted, MissJoined }

public sealed record L1Event(double AtMs, string Table, string CacheKey, L1Outcome Outcome, LookupResult? Hit) : TraceEvent(AtMs);

public sealed record DomainEvent(double AtMs, string Key, bool Matches, ErrorClass Error) : TraceEvent(AtMs);

public sealed record KeyStepsEvent(double AtMs, bool FoldKeys, string Folded, string KeyFormat, string? Expanded,
    string? Digest, string? Digested) : TraceEvent(AtMs);

public sealed record PreparedEvent(double AtMs, string Key, PreparedKey Prepared) : TraceEvent(AtMs);

public sealed record NodeSkippedEvent(double AtMs, string Node, string Command) : TraceEvent(AtMs);

public sealed record BackupEvent(double AtMs, string Table, string Key, LookupResult Result) : TraceEvent(AtMs);

public enum WriteBackMode : byte
{
    /// <summary>Sent and its reply awaited.</summary>
    Sent,
    /// <summary>Sent without waiting: memcached stalled on this very lookup.</summary>
    Detached,
    /// <summary>Not sent: the backup did not find the key.</summary>
    SkippedNotFound,
    /// <summary>Not sent: the backup failed.</summary>
    SkippedError,
}

public sealed record WriteBackEvent(double AtMs, WriteBackMode Mode, UpdateResult? Result) : TraceEvent(AtMs);

/// <summary>
/// One memcached command attempt (exemplar: StackExchange.Redis's profiled command): when it
/// began and ended, what it sent, the raw reply bytes as read from memcached (null when none
/// came: connect failure, not sent), and how the attempt loop judged it (the verdict and
/// status as the client has them; <see cref="ExplainReport"/> words them).
/// </summary>
public sealed record MemcachedAttempt(double AtMs, string Key, int Number, bool Replay) : TraceEvent(AtMs)
{
    /// <summary>get, set or delete.</summary>
    internal MemcachedCommand Command { get; init; }

    /// <summary>A set: the length of the value sent (octets); else null.</summary>
    public int? ValueLength { get; init; }

    /// <summary>Milliseconds since the trace began when the attempt ended.</summary>
    public double EndMs { get; set; }

    /// <summary>The reply bytes memcached sent for this command (octets), set by the connection's reader.</summary>
    public string? RawReply { get; set; }

    /// <summary>How the attempt ended (null until it did).</summary>
    internal Verdict? Verdict { get; set; }

    /// <summary>With a Done verdict, the answer: <see cref="LookupStatus"/> of a get, <see cref="UpdateStatus"/> of a set or delete.</summary>
    internal byte Status { get; set; }

    /// <summary>The warning Postfix would log for this failure (spec 3.10), if any.</summary>
    public string? Warning { get; set; }

    /// <summary>memcache_nodes: the node the command went to (null with one memcached).</summary>
    public string? Node { get; set; }

    /// <summary>True when the command was not sent: memcached would reject it unread (key over 250 bytes, a set with negative flags).</summary>
    public bool NotSent { get; set; }

    public double Ms => EndMs - AtMs;
}
