using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Logging;
using TcpTableServer.Tables.Cdb;
using TcpTableServer.Tables.Lmdb;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>cdb:/path</c> (Postfix dict_cdb in query mode): the file <c>/path.cdb</c> as
/// <c>postmap cdb:/path</c> writes it, memory-mapped (<see cref="CdbFile"/>), read-only.
/// <list type="bullet">
/// <item>Fixed-key table: the key is ASCII-lowercased (DICT_FLAG_FOLD_FIX; postmap folded the
/// keys when it built the file). Keys are tried with one trailing NUL, then without
/// (DICT_FLAG_TRY1NULL, TRY0NULL: postmap cdb: writes none, other writers may); as in Postfix
/// the first hit decides the style for the rest of that file. A value is a C string: it
/// ends at its first NUL (so a trailing NUL is dropped).</item>
/// <item>Read-only: Postfix opens cdb for lookups with O_RDONLY and has no update or delete
/// for it (its default update is a fatal error); a memcache write-back or delete to a cdb
/// backup is answered with a warning "table is read-only" and
/// <see cref="UpdateStatus.ConfigError"/>, as our other read-only tables do.</item>
/// <item>No sequence (Fail), as Debian's Postfix cdb has none.</item>
/// <item>Replacement: postmap writes a new file and renames it over the old one. At most once
/// a second a lookup compares the path's device and inode with the mapped file's (one
/// statx); when they differ the new file is mapped and swapped in atomically. Lookups
/// running on the old mapping finish on it (reference-counted, unmapped after the last),
/// so an answer always comes from one whole file, never a mix. A path that is missing or
/// unreadable keeps the file opened before, with a rate-limited warning.</item>
/// <item>A missing file at open is a <see cref="ConfigException"/> "open database FILE: ...",
/// as Postfix's. A corrupt file (a position outside it) answers
/// <see cref="LookupStatus.TempError"/> with a warning (Postfix: fatal "error reading").</item>
/// </list>
/// </summary>
public sealed class CdbTable : ReadOnlyTable
{
    internal const int WithNul = 1, WithoutNul = 2, BothStyles = WithNul | WithoutNul;
    private const int CheckIntervalMs = 1000;
    private const int StackKeyLimit = 512;

    private readonly LogThrottle _corrupt, _reopenFailed;
    private readonly Lock _swap = new();
    private CdbFile? _current;
    private long _nextCheck;

    private CdbTable(string name, string file, CdbFile opened, ILogger logger)
        : base(name, logger, throttleRefusals: true)
    {
        FilePath = file;
        _current = opened;
        _nextCheck = Environment.TickCount64 + CheckIntervalMs;
        LogThrottle Throttle(string what) => new(logger, LogLevel.Warning, $"{name}: {what}");
        _corrupt = Throttle("lookups in a corrupt file");
        _reopenFailed = Throttle("failed reopens");
    }

    /// <summary>The database file, name + ".cdb".</summary>
    public string FilePath { get; }

    /// <summary>How many times a replaced file was mapped in (for tests).</summary>
    public int Reopens { get; private set; }

    /// <param name="name">The name as written after "cdb:".</param>
    /// <param name="path">The resolved path without the ".cdb" suffix.</param>
    public static CdbTable Open(string name, string path, ILogger logger)
    {
        string file = Path.GetFullPath(path + ".cdb");
        try
        {
            return new CdbTable("cdb:" + name, file, CdbFile.Open(file), logger);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CdbCorruptException)
        {
            throw new ConfigException($"open database {file}: {e.Message}", inner: e);
        }
    }

    public override ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        CheckReplaced();
        var file = Acquire();
        if (file is null) return ValueTask.FromResult(LookupResult.TempError);
        try
        {
            return ValueTask.FromResult(Find(file, key));
        }
        catch (CdbCorruptException e)
        {
            if (_corrupt.Admit())
                Logger.LogWarning("{Table}: error reading {File}: {Error}", Name, file.Path, e.Message);
            return ValueTask.FromResult(LookupResult.TempError);
        }
        finally
        {
            file.Release();
        }
    }

    private static LookupResult Find(CdbFile file, string key)
    {
        // the key folded (A-Z) as Latin-1 bytes, with room for one trailing NUL
        int n = key.Length;
        Span<byte> k = n < StackKeyLimit ? stackalloc byte[n + 1] : new byte[n + 1];
        for (int i = 0; i < n; i++)
        {
            char c = key[i];
            k[i] = (byte)(c is >= 'A' and <= 'Z' ? c + 32 : c);
        }
        k[n] = 0;
        int style = Volatile.Read(ref file.Style);
        ReadOnlySpan<byte> value = default;
        bool found = false;
        if ((style & WithNul) != 0 && (found = file.TryFind(k, out value)))
            Interlocked.And(ref file.Style, WithNul);
        if (!found && (style & WithoutNul) != 0 && (found = file.TryFind(k[..n], out value)))
            Interlocked.And(ref file.Style, WithoutNul);
        return found ? LookupResult.Found(Octets.FromCString(value)) : LookupResult.NotFound;
    }

    /// <summary>
    /// Fail: Debian's Postfix builds cdb without first/next ("postmap -s cdb:": "sequence
    /// operation is not supported"), so a memcache map over a cdb backup cannot sequence there
    /// either.
    /// </summary>
    public override ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) => ValueTask.FromResult(SequenceResult.Fail);

    /// <summary>The current file with a reference for the caller; null after dispose.</summary>
    private CdbFile? Acquire()
    {
        while (true)
        {
            var file = Volatile.Read(ref _current);
            if (file is null) return null;
            if (file.TryAddReference()) return file;
            // swapped and closed between the read and the reference: read the new one
        }
    }

    /// <summary>
    /// At most once a second (one caller wins the slot): maps the file now at the path when
    /// it is another file than the mapped one, and swaps it in.
    /// </summary>
    private void CheckReplaced()
    {
        long now = Environment.TickCount64, next = Volatile.Read(ref _nextCheck);
        if (now < next || Interlocked.CompareExchange(ref _nextCheck, now + CheckIntervalMs, next) != next) return;
        var current = Volatile.Read(ref _current);
        if (current is null) return;
        if (!Posix.TryStat(FilePath, out var state, out int errno))
        {
            if (_reopenFailed.Admit())
                Logger.LogWarning("{Table}: stat {File}: {Error}; still serving the file opened before",
                    Name, FilePath, Posix.Describe(errno));
            return;
        }
        if (state.SameFile(current.Identity)) return;
        CdbFile fresh;
        try
        {
            fresh = CdbFile.Open(FilePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CdbCorruptException)
        {
            if (_reopenFailed.Admit())
                Logger.LogWarning("{Table}: open replaced database {File}: {Error}; still serving the file opened before",
                    Name, FilePath, e.Message);
            return;
        }
        CdbFile? old;
        lock (_swap)
        {
            old = Volatile.Read(ref _current);
            if (old is null) { fresh.Release(); return; }          // disposed meanwhile
            Volatile.Write(ref _current, fresh);
            Reopens++;
        }
        old.Release();
        Logger.LogInformation("{Table}: {File} was replaced: serving the new file", Name, FilePath);
    }

    public override ValueTask DisposeAsync()
    {
        CdbFile? old;
        lock (_swap) old = Interlocked.Exchange(ref _current, null);
        old?.Release();
        _corrupt.Dispose();
        _reopenFailed.Dispose();
        return base.DisposeAsync();
    }
}
