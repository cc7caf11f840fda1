using System.Globalization;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Keys;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;

namespace TcpTableServer.Explain;

/// <summary>
/// The text of <c>query --explain MAP KEY</c>: every step of one lookup as a reader would
/// check it, from the request bytes on both protocols through case folding, the domain list,
/// key_format and key_digest, each memcached attempt with its raw reply and time, the backup
/// and the write-back, to the answering tier and the reply bytes on both protocols.
/// The lookup runs in the CLI's own process, so the running server's L1 cache is not seen;
/// the report shows the map's L1 options instead.
/// </summary>
public static class ExplainReport
{
    public static string Format(string map, string key, MapDefinition? definition, MemcacheSettings settings,
        LookupTrace trace, in LookupResult result, int exitCode)
    {
        var o = new StringBuilder();
        o.Append("explain: map ").Append(map).Append(", key ").AppendLine(WireText.Show(key));
        o.AppendLine("  run in this process with the server's map code (MapSet.Open and the map's table stack);");
        o.AppendLine("  the running server is not asked, so its L1 cache is not seen.");
        Settings(o, definition, settings);

        o.AppendLine();
        o.AppendLine("request, as Postfix sends it:");
        o.Append("  socketmap request: ").AppendLine(WireText.Escape(WireText.SocketmapRequest(map, key)));
        o.Append("  tcp request:       ").AppendLine(WireText.Escape(WireText.TcpRequest(key)));

        o.AppendLine();
        o.AppendLine("steps:");
        foreach (var e in trace.Events) Step(o, e, settings);

        o.AppendLine();
        o.AppendLine("answer:");
        o.Append("  tier:            ").AppendLine(result.Tier.ToString());
        o.Append("  result:          ").Append(result.Status.ToString());
        if (result.Status == LookupStatus.Found) o.Append(' ').Append(WireText.Show(result.Value));
        o.AppendLine();
        o.Append("  socketmap reply: ").AppendLine(WireText.Escape(WireText.SocketmapReply(result)));
        o.Append("  tcp reply:       ").AppendLine(WireText.Escape(WireText.TcpReply(result)));
        o.Append("  exit:            ").Append(exitCode).AppendLine(" (as query)");
        return o.ToString();
    }

    private static void Settings(StringBuilder o, MapDefinition? definition, MemcacheSettings s)
    {
        o.Append("  memcache = ").Append(s.Memcache.Display)
         .Append(", backup = ").Append(s.Backup?.Name ?? "(none)")
         .Append(", key_format = ").Append(s.KeyFormat.Template)
         .Append(", key_digest = ").Append(s.KeyDigest?.Name ?? "(none)").AppendLine();
        if (s.IsMultiNode)
            o.Append("  memcache_nodes = ").Append(string.Join(", ", s.Nodes!)).Append(" (ketama; replicas = ").Append(s.Replicas)
             .AppendLine("): used instead of memcache");
        o.Append("  fold_keys = ").Append(YesNo(s.FoldKeys))
         .Append(", smtputf8_enable = ").Append(YesNo(s.Smtputf8Enable))
         .Append(", max_try = ").Append(s.MaxTry)
         .Append(", retry_pause = ").Append(s.RetryPause).Append(" s, timeout = ").Append(s.Timeout).Append(" s").AppendLine();
        if (definition?.Parameters.TryGetValue("domain", out var domain) == true)
            o.Append("  domain = ").Append(domain.Value).Append("  (").Append(domain.File).Append(':').Append(domain.Line).AppendLine(")");
        else
            o.AppendLine("  domain: none (every key passes)");
        if (definition?.L1 is { } l1)
            o.Append("  L1: l1_ttl = ").Append(Seconds(l1.Ttl)).Append(", l1_size = ").Append(l1.Size)
             .Append(", l1_negative_ttl = ").Append(Seconds(l1.NegativeTtl))
             .AppendLine(" (empty here: this process's own L1; the server's may answer from its copy)");
        else
            o.AppendLine("  L1: none (no l1_ttl for this map)");
        if (definition?.Deadline is { } deadline)
            o.Append("  deadline = ").AppendLine(Seconds(deadline));
        if (definition?.PartialKeys is { } partial)
            o.Append("  ").AppendLine(partial.Describe());
    }

    /// <summary>Continuation lines of a step start under its text, after the time column.</summary>
    private const string Pad = "                ";

    private static void Step(StringBuilder o, TraceEvent e, MemcacheSettings s)
    {
        o.Append("  [").Append(Ms(e.AtMs).PadLeft(11)).Append("] ");
        switch (e)
        {
            case Utf8Event u when !u.Valid:
                o.Append("utf8 layer of ").Append(u.Table).Append(": key ").Append(WireText.Show(u.Key))
                 .AppendLine(" is not valid UTF-8: not looked up (not found, smtputf8_enable = yes)");
                break;
            case Utf8Event u:
                o.Append("utf8 layer of ").Append(u.Table).Append(": key ").Append(WireText.Show(u.Key)).Append(" is valid UTF-8; ");
                if (!u.FoldKeys) o.AppendLine("fold_keys = no: passed unfolded");
                else
                    o.Append(Ascii.IsValid(u.Key) ? "folded A-Z only (all ASCII)" : "folded by Unicode case folding (ICU, not all ASCII)")
                     .Append(": ").AppendLine(WireText.Show(u.Folded));
                break;
            case L1Event l:
                o.Append("L1 cache of ").Append(l.Table).Append(": key ").Append(WireText.Show(l.CacheKey)).Append(": ")
                 .AppendLine(l.Outcome switch
                 {
                     L1Outcome.Hit => "hit: " + Result(l.Hit!.Value),
                     L1Outcome.MissJoined => "miss; joined a lookup already in flight (not traced)",
                     _ => "miss; looked up below",
                 });
                break;
            case DomainEvent d:
                o.Append("domain list: ").AppendLine(Domain(d));
                break;
            case KeyStepsEvent k:
                o.Append("fold_keys = ").Append(YesNo(k.FoldKeys)).Append(k.FoldKeys ? ": A-Z folded: " : ": as is: ")
                 .AppendLine(WireText.Show(k.Folded));
                o.Append(Pad).Append("key_format = ").Append(k.KeyFormat).Append(": ")
                 .AppendLine(k.Expanded is null ? "empty expansion" : WireText.Show(k.Expanded));
                if (k.Digest is not null)
                    o.Append(Pad).Append("key_digest = ").Append(k.Digest).Append(": ")
                     .AppendLine(WireText.Show(k.Digested));
                break;
            case PreparedEvent p when p.Prepared.IsError:
                o.Append("key preparation failed: ").AppendLine(p.Prepared.Error == ErrorClass.Config ? "configuration error" : "temporary error");
                break;
            case PreparedEvent p when p.Prepared.IsSkip:
                o.Append("key skipped: ").Append(PreparedKey.Describe(p.Prepared.Skip))
                 .AppendLine(": not found without asking memcached or the backup (spec 3.2)");
                break;
            case PreparedEvent p:
                o.Append("memcached key: ").Append(WireText.Show(p.Prepared.MemcacheKey))
                 .Append("; backup key: ").AppendLine(WireText.Show(p.Prepared.BackupKey));
                break;
            case MemcachedAttempt a:
                Attempt(o, a, s);
                break;
            case NodeSkippedEvent n:
                o.Append("memcached ").Append(n.Command).Append(": node ").Append(n.Node)
                 .AppendLine(" is ejected (memcache_node_failures): not asked");
                break;
            case BackupEvent b:
                o.Append("backup ").Append(b.Table).Append(": key ").Append(WireText.Show(b.Key)).Append(": ").AppendLine(Result(b.Result));
                break;
            case PartialSearchEvent ps:
                o.Append("partial_keys = ").Append(ps.Use.ToString().ToLowerInvariant()).Append(": ").Append(ps.Probes.Count)
                 .AppendLine(" probe(s), asked in order until one is found or fails:");
                for (int i = 0; i < ps.Probes.Count; i++)
                    o.Append(Pad).Append("  ").Append(i + 1).Append(". ").Append(WireText.Show(ps.Probes[i].Key))
                     .Append("  (").Append(ps.Probes[i].Step).Append(ps.Probes[i].Extension is { } x ? ", extension " + WireText.Show(x) : "").AppendLine(")");
                break;
            case PartialProbeEvent pp:
                o.Append("partial_keys probe ").Append(pp.Index + 1).Append(": ").Append(WireText.Show(pp.Probe.Key))
                 .Append(" (").Append(pp.Probe.Step).AppendLine(")");
                break;
            case PartialAnswerEvent pa when pa.Index < 0:
                o.AppendLine("partial_keys: no probe found: not found");
                break;
            case PartialAnswerEvent pa when pa.Found.IsError:
                o.Append("partial_keys: probe ").Append(pa.Index + 1).Append(" failed: ").Append(Result(pa.Found))
                 .AppendLine(": the search ends with that error (as Postfix's maps_find)");
                break;
            case PartialAnswerEvent pa:
                o.Append("partial_keys: probe ").Append(pa.Index + 1).Append(' ').Append(WireText.Show(pa.Probe.Key)).Append(": ").Append(Result(pa.Found));
                if (!pa.Answer.Equals(pa.Found))
                    o.AppendLine().Append(Pad).Append("answered as Postfix's client would end up with it (unmatched extension ")
                     .Append(WireText.Show(pa.Probe.Extension)).Append("): ").Append(Result(pa.Answer));
                o.AppendLine();
                break;
            case WriteBackEvent w:
                o.Append("write-back: ").AppendLine(w.Mode switch
                {
                    WriteBackMode.Sent => "sent; " + (w.Result?.Status switch
                    {
                        UpdateStatus.Success => "stored",
                        UpdateStatus.Fail => "not stored",
                        _ => "failed (the answer stays the backup's)",
                    }),
                    WriteBackMode.Detached => "sent without waiting for the reply (memcached stalled on this lookup)",
                    WriteBackMode.SkippedError => "skipped (the backup failed)",
                    _ => "skipped (the backup has no entry)",
                });
                break;
            default:
                o.AppendLine(e.ToString());
                break;
        }
    }

    private static void Attempt(StringBuilder o, MemcachedAttempt a, MemcacheSettings s)
    {
        string command = Name(a.Command);
        o.Append("memcached ").Append(command).Append(" attempt ").Append(a.Number).Append(" of max_try ").Append(s.MaxTry);
        if (a.Node is not null) o.Append(" on node ").Append(a.Node);
        if (a.Replay) o.Append(" (replay)");
        // An attempt still in flight when the lookup was answered (a map's deadline cut it short)
        // has no end time yet: say so instead of printing a time against an unset end.
        if (a.Verdict is null) o.AppendLine(": no reply yet when the lookup was answered");
        else o.Append(": ").Append(Outcome(a)).Append(" in ").AppendLine(Ms(a.Ms));
        string pad = Pad;
        if (a.NotSent)
        {
            o.Append(pad).Append("not sent: memcached would reject it unread (")
             .Append(a.Key.Length > MemcachedClient.MaxKeyLength ? $"key longer than {MemcachedClient.MaxKeyLength} bytes" : $"negative flags = {s.Flags}")
             .AppendLine(")");
        }
        else
        {
            o.Append(pad).Append("> ").Append(command).Append(' ').Append(WireText.Escape(a.Key));
            if (a.Command == MemcachedCommand.Set)
            {
                o.Append(' ').Append(s.Flags).Append(' ').Append(s.Ttl).Append(' ');
                if (a.ValueLength is { } length) o.Append(length);
                else o.Append("<length>");
            }
            o.AppendLine("\\r\\n");
            if (a.RawReply is { } raw)
                foreach (var line in ReplyLines(raw)) o.Append(pad).Append("< ").AppendLine(line);
            else
                o.Append(pad).AppendLine(a.Verdict == Verdict.ConnectFailed ? "< (no reply: not connected)"
                    : a.Verdict == Verdict.Done && a.Command == MemcachedCommand.Get ? "< (answered within a multi-key get line: not recorded)"
                    : "< (no reply)");
        }
        if (a.Warning is not null) o.Append(pad).Append("warning: ").AppendLine(a.Warning);
    }

    private static string Name(MemcachedCommand command) => command switch
    {
        MemcachedCommand.Get => "get",
        MemcachedCommand.Set => "set",
        _ => "delete",
    };

    /// <summary>How the attempt loop judged the attempt: found, not found, stored, failed, connect failed, ...</summary>
    private static string Outcome(MemcachedAttempt a) => a.Verdict switch
    {
        Verdict.Done => Answer(a),
        Verdict.DoneThenClose => Answer(a) + " (then the connection closed)",
        Verdict.FailedInSync => "failed (connection kept)",
        Verdict.Failed => "failed (connection closed)",
        Verdict.ConnectFailed => "connect failed (ends the attempt loop, V17)",
        Verdict.Replay => "not answered: the connection closed for another request (sent again at once, not counted)",
        var v => v.ToString()!,
    };

    /// <summary>The answer of a done attempt.</summary>
    private static string Answer(MemcachedAttempt a) => a.Command switch
    {
        MemcachedCommand.Get => (LookupStatus)a.Status == LookupStatus.Found ? "found" : "not found",
        MemcachedCommand.Set => (UpdateStatus)a.Status == UpdateStatus.Success ? "stored" : "not stored",
        _ => (UpdateStatus)a.Status == UpdateStatus.Success ? "deleted" : "not found",
    };

    /// <summary>A raw reply cut into its CR LF lines, each escaped, CR LF shown.</summary>
    private static IEnumerable<string> ReplyLines(string raw)
    {
        if (raw.Length == 0) yield return "(nothing: the connection closed)";
        int start = 0;
        while (start < raw.Length)
        {
            int end = raw.IndexOf("\r\n", start, StringComparison.Ordinal);
            string line = end < 0 ? raw[start..] : raw[start..(end + 2)];
            yield return WireText.Escape(line);
            start += line.Length;
        }
    }

    private static string Domain(DomainEvent d)
    {
        int at = d.Key.LastIndexOf('@');
        if (d.Error != ErrorClass.None)
            return "a table of the list failed: " + (d.Error == ErrorClass.Config ? "configuration error" : "temporary error");
        if (at <= 0)
            return "the key has no '@' or an empty localpart: it never matches: key skipped";
        string domain = WireText.Show(d.Key[(at + 1)..]);
        return d.Matches
            ? $"domain {domain} matched a pattern: key passed"
            : $"domain {domain} matched no pattern, or a !pattern first: key skipped";
    }

    private static string Result(in LookupResult r) => r.Status switch
    {
        LookupStatus.Found => "found " + WireText.Show(r.Value),
        LookupStatus.NotFound => "not found",
        LookupStatus.ConfigError => "configuration error",
        _ => "temporary error",
    };

    private static string YesNo(bool b) => b ? "yes" : "no";

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";

    private static string Ms(double ms) => ms.ToString("0.0", CultureInfo.InvariantCulture) + " ms";
}
