using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// Opens the table types usable as a memcache <c>backup</c> (spec 3.4-3.7) and inside a
/// <c>domain</c> list: <c>texthash:</c>, <c>inline:</c>, <c>static:</c>, <c>fail:</c> and
/// <c>lmdb:</c>, all as Postfix fixed-key tables with ASCII key folding (spec 3.3).
/// A spec without ':' or of an unknown type, and a table that cannot be opened, throw a
/// <see cref="ConfigException"/> (spec 3.11 POLICY: refuse to start).
/// </summary>
public sealed class TableFactory(ILoggerFactory loggers) : ITableFactory
{
    public ITable Open(string spec, string baseDirectory) => Open(spec, baseDirectory, utf8: false);

    /// <summary>
    /// <paramref name="utf8"/>: UTF-8 mode (spec 3.3): texthash and inline keys are folded by
    /// Unicode case folding at load, and texthash lines that are not UTF-8 are ignored.
    /// </summary>
    public ITable Open(string spec, string baseDirectory, bool utf8)
    {
        int colon = spec.IndexOf(':');
        if (colon <= 0)
            throw new ConfigException($"need dictionary type:name, got \"{spec}\"");
        string type = spec[..colon], name = spec[(colon + 1)..];
        return type switch
        {
            "texthash" => TexthashTable.Open(name, Resolve(name, baseDirectory), Logger<TexthashTable>(), utf8),
            "inline" => InlineTable.Open(name, Logger<InlineTable>(), utf8),
            "static" => StaticTable.Open(name, Logger<StaticTable>()),
            "fail" => new FailTable(spec),
            "lmdb" => LmdbTable.Open(name, Resolve(name, baseDirectory), Logger<LmdbTable>()),
            _ => throw new ConfigException($"unsupported dictionary type: {type}"),
        };
    }

    private ILogger Logger<T>() => loggers.CreateLogger<T>();

    private static string Resolve(string name, string baseDirectory)
    {
        if (name.Length == 0)
            throw new ConfigException("empty table file name");
        return Path.IsPathRooted(name) ? name : Path.GetFullPath(Path.Combine(baseDirectory, name));
    }
}
