namespace TcpTableServer.Tables;

/// <summary>
/// One Postfix-style lookup table (Postfix's DICT): memcache, texthash, inline, static,
/// fail, lmdb and anything chained all implement this.
///
/// Keys and values are <b>octet strings</b>: every char holds one byte (0x00-0xFF), i.e. the
/// wire bytes decoded as Latin-1 (see <see cref="Octets"/>). This keeps arbitrary bytes
/// (invalid UTF-8 included) lossless from the wire to memcached and back, and lets ASCII
/// case folding touch only A-Z as Postfix does (spec 3.3).
///
/// Results are values, never exceptions: a failed operation reports
/// <see cref="LookupStatus.TempError"/> (Postfix DICT_ERR_RETRY) or
/// <see cref="LookupStatus.ConfigError"/> (DICT_ERR_CONFIG).
///
/// Nothing on the request path blocks: requests run on the socket's I/O thread, so a table
/// awaits its I/O and hands blocking work (an lmdb commit) to a thread of its own. How to
/// write a table (timeouts, thread safety, sharing, UTF-8 mode): docs/tables.md.
/// </summary>
public interface ITable : IAsyncDisposable
{
    /// <summary>"type:name" as written in the configuration, for log messages.</summary>
    string Name { get; }

    ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default);

    /// <summary>Postfix dict_update: Success, Fail (not updated, no error) or an error.</summary>
    ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default);

    /// <summary>Postfix dict_delete: Success (deleted), Fail (not found) or an error.</summary>
    ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default);

    /// <summary>Postfix first/next: every entry, or Fail/error when the table cannot sequence.</summary>
    ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default);
}

public enum LookupStatus : byte { Found, NotFound, TempError, ConfigError }

/// <summary>
/// Which tier of a map gave a lookup its answer (metrics, <c>query --explain</c>): carried in
/// the result by value, so telling costs nothing on the hit path.
/// </summary>
public enum AnswerTier : byte
{
    /// <summary>Not said (a plain table: texthash, lmdb, ... answering on its own).</summary>
    None,
    /// <summary>The map's in-process L1 cache.</summary>
    L1,
    /// <summary>memcached (found, or not found with no backup to ask).</summary>
    Memcached,
    /// <summary>The backup table (spec 3.4: memcached missed or failed).</summary>
    Backup,
    /// <summary>Key preparation skipped the key (domain filter, empty key, invalid UTF-8): not found without asking anyone.</summary>
    Skipped,
    /// <summary>A temporary or configuration error (memcached and backup failed, key preparation).</summary>
    Error,
    /// <summary>A temporary error given because the map's <c>deadline</c> passed (metrics: result "timeout").</summary>
    Deadline,
}

/// <summary>
/// A lookup's answer and the tier that gave it. Equality is the answer's (status and value):
/// the same answer from memcached or from the L1 cache is the same answer.
/// </summary>
public readonly record struct LookupResult(LookupStatus Status, string? Value = null)
{
    /// <summary>The tier that answered (<see cref="AnswerTier.None"/> when the table does not say).</summary>
    public AnswerTier Tier { get; init; }

    /// <summary>This answer as given by <paramref name="tier"/> (errors stay <see cref="AnswerTier.Error"/>).</summary>
    public LookupResult From(AnswerTier tier) => this with { Tier = IsError ? AnswerTier.Error : tier };

    public bool Equals(LookupResult other) => Status == other.Status && string.Equals(Value, other.Value, StringComparison.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Status, Value);

    public static readonly LookupResult NotFound = new(LookupStatus.NotFound);
    public static readonly LookupResult TempError = new(LookupStatus.TempError);
    public static readonly LookupResult ConfigError = new(LookupStatus.ConfigError);
    public static LookupResult Found(string value) => new(LookupStatus.Found, value);
    public static LookupResult Error(ErrorClass error) =>
        error == ErrorClass.Config ? ConfigError : TempError;
    public bool IsError => Status is LookupStatus.TempError or LookupStatus.ConfigError;
}

/// <summary>Postfix's error classes: DICT_ERR_RETRY and DICT_ERR_CONFIG.</summary>
public enum ErrorClass : byte { None, Retry, Config }

public enum UpdateStatus : byte { Success, Fail, TempError, ConfigError }

public readonly record struct UpdateResult(UpdateStatus Status)
{
    public static readonly UpdateResult Success = new(UpdateStatus.Success);
    public static readonly UpdateResult Fail = new(UpdateStatus.Fail);
    public static readonly UpdateResult TempError = new(UpdateStatus.TempError);
    public static readonly UpdateResult ConfigError = new(UpdateStatus.ConfigError);
    public static UpdateResult Error(ErrorClass error) =>
        error == ErrorClass.Config ? ConfigError : TempError;
    public bool IsError => Status is UpdateStatus.TempError or UpdateStatus.ConfigError;
}

public readonly record struct SequenceResult(
    UpdateStatus Status, IReadOnlyList<KeyValuePair<string, string>> Entries)
{
    public static SequenceResult Of(IReadOnlyList<KeyValuePair<string, string>> entries) =>
        new(UpdateStatus.Success, entries);
    public static readonly SequenceResult Fail = new(UpdateStatus.Fail, []);
    public static readonly SequenceResult TempError = new(UpdateStatus.TempError, []);
    public static readonly SequenceResult ConfigError = new(UpdateStatus.ConfigError, []);
}

/// <summary>Opens "type:name" tables (backup tables, tables inside a domain list).</summary>
public interface ITableFactory
{
    /// <summary>
    /// Opens <paramref name="spec"/> ("type:name"). Relative file names are resolved
    /// against <paramref name="baseDirectory"/>. Throws <see cref="Config.ConfigException"/>
    /// for an unknown type or a table that cannot be opened.
    /// </summary>
    ITable Open(string spec, string baseDirectory);

    /// <summary>As <see cref="Open(string, string)"/>, with options for writable backups.</summary>
    ITable Open(string spec, string baseDirectory, TableOpenOptions options) => Open(spec, baseDirectory);
}

/// <summary>How a table is opened.</summary>
/// <param name="CreateMissing">
/// Create a missing database file (lmdb) instead of refusing to start: only when the map
/// asks for it (<c>backup_create = yes</c>), since a missing file is otherwise a mistyped
/// path or a lost file, and an empty database created in its place answers "not found" for
/// every key.
/// </param>
/// <param name="Utf8">
/// UTF-8 mode (<c>smtputf8_enable = yes</c>, spec 3.3): tables that fold their keys at load
/// (texthash, inline) fold them by Unicode case folding.
/// </param>
public readonly record struct TableOpenOptions(bool CreateMissing, bool Utf8 = false)
{
    public static readonly TableOpenOptions Default = new(false);
}
