using System.Collections.Concurrent;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SQLitePCL;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>sqlite:/etc/postfix/x.cf</c>, Postfix's sqlite_table(5): <c>dbpath</c> opened read-only,
/// the <c>query</c> expanded with each key piece quoted as sqlite3_mprintf("%q") does (every
/// <c>'</c> doubled), only the first SQL statement run, the first column of each row joined
/// (<see cref="SqlQuery"/>). Keys that are not UTF-8 are not looked up (not found), as in
/// Postfix. A failed step is a temporary error, an SQL error in the query (SQLITE_ERROR: a
/// syntax error, a missing table) a configuration error (Postfix stops the process).
/// <para>
/// SQLite calls block (file locks, disk reads), so the requests run on one thread of the
/// table's own that owns the connection, as lmdb's writer does: lookups are queued to it
/// (at most <see cref="MaxQueued"/>, beyond that a temporary error) and completed from it.
/// A database locked by a writer is waited for at most <see cref="BusyTimeout"/>.
/// </para>
/// </summary>
public sealed class SqliteTable : SqlTable
{
    /// <summary>Parameters of sqlite_table(5) (others are warned about).</summary>
    public static readonly IReadOnlyList<string> ParameterNames = [.. SqlQuery.CommonNames, "dbpath"];

    /// <summary>Lookups queued beyond this many are answered with a temporary error.</summary>
    public const int MaxQueued = 100_000;

    /// <summary>How long a query waits for a lock another process holds on the database.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(5);

    private sealed record Op(string Key, string Sql, CancellationToken Ct)
    {
        public readonly TaskCompletionSource<LookupResult> Result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly SqliteConnection _connection;
    private readonly BlockingCollection<Op> _queue = new(MaxQueued);
    private readonly Thread _worker;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SqliteTable(string name, SqlQuery query, SqliteConnection connection, ILogger logger)
        : base(name, query, logger)
    {
        _connection = connection;
        _worker = new Thread(Work) { IsBackground = true, Name = "sqlite " + name };
        _worker.Start();
    }

    /// <summary>
    /// Opens <paramref name="path"/> (the .cf file; <paramref name="name"/> as configured).
    /// Throws <see cref="ConfigException"/> for a bad .cf file or a database that cannot be
    /// opened read-only (Postfix answers every lookup of such a table with an error).
    /// </summary>
    public static SqliteTable Open(string name, string path, ITableFactory tables, TableOpenOptions options, ILogger logger)
    {
        var cf = CfFile.Read(path, logger, n => ParameterNames.Contains(n), "sqlite_table(5)");
        string tableName = "sqlite:" + name;
        var dbpath = cf.GetValueOrDefault("dbpath");
        if (dbpath is null || dbpath.Value.Length == 0)
            throw new ConfigException("dbpath is not set", dbpath ?? new ConfigValue("dbpath", "", path, 0));
        WarnUnquoted(cf.GetValueOrDefault("query"), logger);
        var query = SqlQuery.Parse(tableName, cf, path, null, tables, options, logger);
        SqliteConnection? connection = null;
        try
        {
            NativeLibraryFallback.Value.ToString();
            // the file's octets as UTF-8 text: what sqlite3_open_v2 is given in Postfix
            string file = Octets.ToDisplay(dbpath.Value);
            connection = new SqliteConnection(new SqliteConnectionStringBuilder
            {
                DataSource = file,
                Mode = SqliteOpenMode.ReadOnly,
                Pooling = false,
                DefaultTimeout = (int)BusyTimeout.TotalSeconds,
            }.ToString());
            connection.Open();
            raw.sqlite3_busy_timeout(connection.Handle, (int)BusyTimeout.TotalMilliseconds);
            return new SqliteTable(tableName, query, connection, logger);
        }
        catch (SqliteException e)
        {
            connection?.Dispose();
            _ = query.DisposeAsync().AsTask();
            throw new ConfigException($"open database {dbpath.Value}: {e.Message}", dbpath, e);
        }
        catch (Exception e) when (e is TypeInitializationException or DllNotFoundException)
        {
            _ = query.DisposeAsync().AsTask();
            throw new ConfigException($"cannot load the SQLite library (libe_sqlite3.so beside the binary, or the system's libsqlite3.so.0): {(e.InnerException?.InnerException ?? e.InnerException ?? e).Message}", dbpath, e);
        }
    }

    /// <summary>
    /// The SQLite library: the driver's own libe_sqlite3.so when it is beside the binary (a
    /// build or <c>dotnet</c> run), else the system's libsqlite3.so.0 (Debian's libsqlite3-0,
    /// which postfix-sqlite needs too): a Native AOT binary installed alone finds it there.
    /// </summary>
    private static readonly Lazy<bool> NativeLibraryFallback = new(() =>
    {
        try
        {
            System.Runtime.InteropServices.NativeLibrary.SetDllImportResolver(typeof(SQLite3Provider_e_sqlite3).Assembly,
                (library, assembly, searchPath) =>
                    library != "e_sqlite3" ? IntPtr.Zero
                    : System.Runtime.InteropServices.NativeLibrary.TryLoad(library, assembly, searchPath, out var own) ? own
                    : System.Runtime.InteropServices.NativeLibrary.TryLoad("libsqlite3.so.0", out var system) ? system
                    : IntPtr.Zero);
        }
        catch (InvalidOperationException) { }   // a resolver was set already
        return true;
    });

    /// <summary>Postfix warns about a %x outside '' in an SQLite query (flag_non_recommended_query).</summary>
    private static void WarnUnquoted(ConfigValue? query, ILogger logger)
    {
        if (query is null) return;
        string q = query.Value;
        char inQuote = '\0';
        for (int i = 0; i < q.Length; i++)
        {
            char c = q[i];
            if (inQuote == '\0') { if (c is '\'' or '"') inQuote = c; }
            else if (c == inQuote) inQuote = '\0';
            if (inQuote == '\'' || c != '%' || i + 1 >= q.Length) continue;
            if (q[i + 1] == '%') i++;
            else if (char.IsAsciiLetterOrDigit(q[i + 1]))
            {
                logger.LogWarning("{File}:{Line}: query >{Query}< contains >{Sequence}< without the recommended '' quotes",
                    query.File, query.Line, q, q.Substring(i, 2));
                i++;
            }
        }
    }

    /// <summary>Postfix skips keys that are not UTF-8 (unless in UTF-8 mode, where they never get here).</summary>
    protected override bool AdmitsEncoding(string key) => CaseFolding.IsValidUtf8(key);   // the key holds no NUL (SqlTable)

    /// <summary>sqlite3_mprintf("%q"): every ' doubled.</summary>
    private static void Quote(ReadOnlySpan<char> piece, StringBuilder into)
    {
        foreach (char c in piece)
        {
            if (c == '\'') into.Append('\'');
            into.Append(c);
        }
    }

    protected override ValueTask<LookupResult> QueryAsync(string key, CancellationToken ct)
    {
        var op = new Op(key, Query.Expand(key, Quote), ct);
        try
        {
            if (!_queue.TryAdd(op))
            {
                if (AdmitWarning()) Logger.LogWarning("{Table}: more than {Max} lookups queued: temporary error", Name, MaxQueued);
                return ValueTask.FromResult(LookupResult.TempError);
            }
        }
        catch (InvalidOperationException)   // closed: the table is being disposed
        {
            return ValueTask.FromResult(LookupResult.TempError);
        }
        return new ValueTask<LookupResult>(op.Result.Task);
    }

    /// <summary>The worker thread: runs the queued lookups one by one, then closes the connection.</summary>
    private void Work()
    {
        try
        {
            foreach (var op in _queue.GetConsumingEnumerable())
            {
                if (op.Ct.IsCancellationRequested) { op.Result.TrySetCanceled(op.Ct); continue; }
                LookupResult result;
                try { result = Run(op.Key, op.Sql); }
                catch (Exception e)   // never lose a caller: a bug here answers a temporary error
                {
                    Logger.LogError(e, "{Table}: lookup failed", Name);
                    result = LookupResult.TempError;
                }
                op.Result.TrySetResult(result);
            }
        }
        finally
        {
            _connection.Dispose();
            _stopped.TrySetResult();
        }
    }

    /// <summary>dict_sqlite_lookup's query: prepare the first statement, step through its rows.</summary>
    private LookupResult Run(string key, string sql)
    {
        var db = _connection.Handle!;
        byte[] text = Octets.ToBytes(sql);
        int rc = raw.sqlite3_prepare_v2(db, text, out sqlite3_stmt stmt, out ReadOnlySpan<byte> _);
        using (stmt)
        {
            if (rc != raw.SQLITE_OK)
            {
                if (AdmitWarning())
                    Logger.LogWarning("{Table}: SQL prepare failed: {Error}", Name, raw.sqlite3_errmsg(db).utf8_to_string());
                return (rc & 0xff) == raw.SQLITE_ERROR ? LookupResult.ConfigError : LookupResult.TempError;
            }
            if (stmt is null || stmt.IsInvalid)   // only whitespace or a comment: Postfix's step fails
            {
                if (AdmitWarning()) Logger.LogWarning("{Table}: query '{Query}' has no SQL statement", Name, Octets.ToDisplay(sql));
                return LookupResult.TempError;
            }
            var results = Query.StartResults(key);
            while (true)
            {
                rc = raw.sqlite3_step(stmt);
                if (rc == raw.SQLITE_DONE) break;
                if (rc != raw.SQLITE_ROW)
                {
                    if (AdmitWarning())
                        Logger.LogWarning("{Table}: SQL step failed for query '{Query}': {Error}",
                            Name, Octets.ToDisplay(sql), raw.sqlite3_errmsg(db).utf8_to_string());
                    return LookupResult.TempError;
                }
                if (!results.Add(Column0(stmt))) return LookupResult.TempError;
            }
            return results.Result;
        }
    }

    /// <summary>
    /// sqlite3_column_text(stmt, 0) as Postfix reads it: null for NULL, else the value's text
    /// (numbers converted by SQLite) as octets up to the first NUL (a C string).
    /// </summary>
    private static string? Column0(sqlite3_stmt stmt)
    {
        if (raw.sqlite3_column_type(stmt, 0) == raw.SQLITE_NULL) return null;
        raw.sqlite3_column_text(stmt, 0);             // numbers become their text form
        return Octets.FromCString(raw.sqlite3_column_blob(stmt, 0));
    }

    protected override async ValueTask CloseAsync()
    {
        _queue.CompleteAdding();
        await _stopped.Task.ConfigureAwait(false);
        _queue.Dispose();
    }
}
