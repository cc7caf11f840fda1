namespace TcpTableServer.Host;

/// <summary>
/// systemd's journal reads a syslog priority prefix such as "&lt;4&gt;" at the start of each
/// line of a service's standard error (sd-daemon(3)), so <c>journalctl -p warning</c> finds
/// our warnings. The prefix is written only when standard error is the journal stream that
/// systemd announced in <c>JOURNAL_STREAM</c> ("device:inode"); run by hand, or with the
/// variable inherited by a child whose stderr goes elsewhere, lines stay as they are.
/// NLog layouts use it as <c>${journal-priority}</c>.
/// </summary>
internal static class JournalPriority
{
    /// <summary>True when standard error is the journal stream of <c>JOURNAL_STREAM</c>.</summary>
    public static readonly bool Enabled = StderrIsJournal(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    /// <summary>The prefix for an NLog level: emerg 0 .. debug 7, as syslog(3) numbers them.</summary>
    public static string Prefix(NLog.LogLevel level)
    {
        if (!Enabled) return "";
        if (level == NLog.LogLevel.Fatal) return "<2>";
        if (level == NLog.LogLevel.Error) return "<3>";
        if (level == NLog.LogLevel.Warn) return "<4>";
        if (level == NLog.LogLevel.Info) return "<6>";
        return "<7>";
    }

    /// <summary>
    /// JOURNAL_STREAM is "dev:inode" of the stream socket; /proc/self/fd/2 names a socket or
    /// pipe as "socket:[inode]" / "pipe:[inode]". Equal inodes: stderr is that stream.
    /// </summary>
    internal static bool StderrIsJournal(string? journalStream, string stderrLink = "/proc/self/fd/2")
    {
        if (string.IsNullOrEmpty(journalStream)) return false;
        int colon = journalStream.IndexOf(':');
        if (colon <= 0 || !ulong.TryParse(journalStream.AsSpan(colon + 1), out ulong inode)) return false;
        string? target;
        try
        {
            target = new FileInfo(stderrLink).LinkTarget;   // readlink(2): "socket:[inode]" as written
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
        if (target is null) return false;
        int open = target.IndexOf(":[", StringComparison.Ordinal);
        return open > 0 && target.EndsWith(']')
            && ulong.TryParse(target.AsSpan(open + 2, target.Length - open - 3), out ulong actual)
            && actual == inode;
    }
}
