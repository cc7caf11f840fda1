using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// The files tables read once at open, so that a table opened before does not see a later
/// edit of them: a <c>texthash:</c> file, the .cf of <c>pgsql:</c>, <c>sqlite:</c> and
/// <c>memcache:</c> (a nested map), what a nested map's .cf names in turn (its backup and
/// domain list), and a bare absolute path (a domain list file). Not <c>cdb:</c> (it maps a
/// replaced file in by itself) nor <c>lmdb:</c> (read live), nor the databases of the SQL
/// tables. Used for a map's fingerprint (<see cref="MapFingerprint"/>: a reload reopens a map
/// when one of them changed) and for the registry keys of <see cref="TableFactory"/> (a changed
/// file opens a new instance instead of sharing the old one).
/// </summary>
public static class TableFiles
{
    /// <summary>
    /// The existing files read at open by what <paramref name="value"/> names (a parameter's
    /// value: a table spec, a backup or domain list), resolved against
    /// <paramref name="baseDirectory"/>: full paths, each once, in the order named.
    /// </summary>
    public static IReadOnlyList<string> NamedBy(string value, string baseDirectory)
    {
        var files = new List<string>();
        Collect(value, baseDirectory, files);
        return files;
    }

    /// <summary>The files' versions as sizes and modification times (a missing file: opening reports it).</summary>
    public static string Version(IEnumerable<string> files)
    {
        var version = new System.Text.StringBuilder();
        foreach (string file in files)
        {
            var info = new FileInfo(file);
            if (info.Exists) version.Append('@').Append(info.Length).Append(':').Append(info.LastWriteTimeUtc.Ticks);
        }
        return version.ToString();
    }

    private static void Collect(string value, string baseDirectory, List<string> files)
    {
        foreach (string token in value.Split([' ', '\t', ',', '{', '}'], StringSplitOptions.RemoveEmptyEntries))
        {
            int colon = token.IndexOf(':');
            string type = colon > 0 ? token[..colon] : "";
            string? path = type is "texthash" or "pgsql" or "sqlite" or "memcache" ? token[(colon + 1)..]
                : token.StartsWith('/') ? token : null;
            if (string.IsNullOrEmpty(path)) continue;
            string full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory, path));
            // seen already: a .cf naming itself (refused at open) ends here
            if (!File.Exists(full) || files.Contains(full)) continue;
            files.Add(full);
            if (type == "memcache")
                foreach (string nested in NestedValues(full))
                    Collect(nested, Path.GetDirectoryName(full) ?? "/", files);
        }
    }

    /// <summary>A nested map's parameter values (none when it cannot be read: opening reports it).</summary>
    private static IEnumerable<string> NestedValues(string cf)
    {
        try
        {
            return [.. CfFile.Read(cf, NullLogger.Instance).Values.Select(v => v.Value)];
        }
        catch (ConfigException)
        {
            return [];
        }
    }
}
