using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables.Lmdb;

namespace TcpTableServer.Tables;

/// <summary>
/// Opens the table types usable as a memcache <c>backup</c> (spec 3.4-3.7) and inside a
/// <c>domain</c> list: <c>texthash:</c>, <c>inline:</c>, <c>static:</c>, <c>fail:</c> and
/// <c>lmdb:</c> and <c>cdb:</c>, all as Postfix fixed-key tables with ASCII key folding (spec 3.3),
/// and the chained tables <c>socketmap:</c>, <c>tcp:</c> (clients of another lookup server)
/// and <c>memcache:/path.cf</c> (a nested memcache map, <see cref="NestedMemcache"/>).
/// A spec without ':' or of an unknown type, and a table that cannot be opened, throw a
/// <see cref="ConfigException"/> (spec 3.11 POLICY: refuse to start).
/// <para>
/// Every table is opened once per <see cref="TableRegistry"/> (Postfix's dict_register): file
/// tables are keyed by type and file (lmdb: the directory's device and inode plus the file
/// name, so two spellings of one file share too, before and after its creation), the others by
/// their spec; each call returns its own handle on the shared instance.
/// </para>
/// </summary>
public sealed class TableFactory(ILoggerFactory loggers, TableRegistry? registry = null) : ITableFactory
{
    /// <summary>The registry whose instances this factory hands out.</summary>
    private readonly TableRegistry _registry = registry ?? new TableRegistry();

    public ITable Open(string spec, string baseDirectory) => Open(spec, baseDirectory, TableOpenOptions.Default);

    public ITable Open(string spec, string baseDirectory, TableOpenOptions options)
    {
        int colon = spec.IndexOf(':');
        if (colon <= 0)
            throw new ConfigException($"need dictionary type:name, got \"{spec}\"");
        string type = spec[..colon], name = spec[(colon + 1)..];
        switch (type)
        {
            case "texthash":
                string text = Resolve(name, baseDirectory);
                // UTF-8 mode folds the keys at load: one instance per file, mode and file
                // version, so a reload after the file changed reads it again
                return _registry.Acquire((options.Utf8 ? "texthash+utf8:" : "texthash:") + text + TableFiles.Version([text]),
                    () => TexthashTable.Open(name, text, Logger<TexthashTable>(), options.Utf8));
            case "inline":
                return _registry.Acquire((options.Utf8 ? "utf8+" : "") + spec, () => InlineTable.Open(name, Logger<InlineTable>(), options.Utf8));
            case "static":
                return _registry.Acquire(spec, () => StaticTable.Open(name, Logger<StaticTable>()));
            case "fail":
                return _registry.Acquire(spec, () => new FailTable(spec));
            case "lmdb":
                string path = Resolve(name, baseDirectory);
                return _registry.Acquire("lmdb:" + FileIdentity.KeyOf(path + ".lmdb"),
                    () => LmdbTable.Open(name, path, Logger<LmdbTable>(), options.CreateMissing));
            case "pgsql" or "sqlite":   // name: the .cf file; one instance per file, version and mode
                string cf = Resolve(name, baseDirectory);
                return _registry.Acquire(type + (options.Utf8 ? "+utf8:" : ":") + cf + TableFiles.Version([cf]), () => type == "pgsql"
                    ? PgsqlTable.Open(name, cf, this, options, Logger<PgsqlTable>()) : SqliteTable.Open(name, cf, this, options, Logger<SqliteTable>()));
            case "cdb":
                string cdb = Resolve(name, baseDirectory);
                return _registry.Acquire("cdb:" + FileIdentity.KeyOf(cdb + ".cdb"),
                    () => CdbTable.Open(name, cdb, Logger<CdbTable>()));
            case "socketmap":
                return _registry.Acquire(spec, () => SocketmapClientTable.Open(name, Logger<SocketmapClientTable>()));
            case "tcp":
                return _registry.Acquire(spec, () => TcpClientTable.Open(name, Logger<TcpClientTable>()));
            case "memcache":
                // one instance per .cf and version of it and of the files it names (a reload
                // after an edit of one opens the nested map anew)
                string nested = Resolve(name, baseDirectory);
                return _registry.Acquire("memcache:" + nested + TableFiles.Version(TableFiles.NamedBy("memcache:" + nested, "/")), () => NestedMemcache.Open(name, nested, this, loggers));
            default:
                throw new ConfigException($"unsupported dictionary type: {type}");
        }
    }

    private ILogger Logger<T>() => loggers.CreateLogger<T>();

    private static string Resolve(string name, string baseDirectory)
    {
        if (name.Length == 0)
            throw new ConfigException("empty table file name");
        return Path.IsPathRooted(name) ? Path.GetFullPath(name) : Path.GetFullPath(Path.Combine(baseDirectory, name));
    }
}
