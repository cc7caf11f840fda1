using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Memcache;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>memcache:/path/other.cf</c> as a backup or domain table: a memcache map of its own,
/// its .cf read as the top-level maps' (<see cref="CfFile"/>, relative names in it resolved
/// against its directory) and opened with <see cref="MemcacheTable.Open"/>, whose backup
/// may be chained again. A chain that comes back to a .cf being opened (a .cf naming
/// itself, or a -> b -> a), or is deeper than <see cref="MaxDepth"/>, is refused at open
/// with a <see cref="ConfigException"/> naming the chain: it would recurse without end.
/// </summary>
internal static class NestedMemcache
{
    /// <summary>Nested memcache maps at most, one inside the other.</summary>
    public const int MaxDepth = 8;

    // The .cf files being opened on this thread, outermost first (opens run under the
    // registry's lock, one chain at a time, on one thread).
    [ThreadStatic] private static List<string>? _opening;

    public static ITable Open(string name, string cf, ITableFactory tables, ILoggerFactory loggers)
    {
        var opening = _opening ??= [];
        if (opening.Contains(cf, StringComparer.Ordinal))
            throw new ConfigException($"memcache:{name}: backup chain comes back to itself ({string.Join(" -> ", opening.Append(cf))})");
        if (opening.Count >= MaxDepth)
            throw new ConfigException($"memcache:{name}: more than {MaxDepth} nested memcache tables ({string.Join(" -> ", opening.Append(cf))})");
        opening.Add(cf);
        try
        {
            var parameters = CfFile.Read(cf, loggers.CreateLogger<MemcacheTable>());
            return MemcacheTable.Open(name, parameters, tables, Path.GetDirectoryName(cf) ?? "/", loggers);
        }
        finally
        {
            opening.RemoveAt(opening.Count - 1);
        }
    }
}
