using System.Security.Cryptography;
using System.Text;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer;

/// <summary>
/// What makes two opened maps the same map: every parameter's name and value (wherever it
/// was written: moving a line is no change), the server-side options that wrap the table
/// (L1, deadline), and the contents of the files those values name that are read once at
/// open (<see cref="TableFiles"/>: texthash files, the .cf of pgsql, sqlite and nested
/// memcache maps and what a nested .cf names, domain list files). lmdb and cdb files are not
/// part of it: they are read live, and a reload keeps sharing the open instance. A reload reuses a map whose
/// fingerprint did not change (its L1 entries and memcached connections stay); every other
/// map is opened anew.
/// </summary>
public static class MapFingerprint
{
    public static string Of(MapDefinition map)
    {
        var text = new StringBuilder();
        text.Append(map.Name).Append('\n');
        foreach (var (name, value) in map.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append(name).Append('=').Append(value.Value).Append('\n');
            foreach (string file in TableFiles.NamedBy(value.Value, map.BaseDirectory))
                text.Append("  file ").Append(file).Append(' ').Append(ContentHash(file)).Append('\n');
        }
        text.Append("l1=").Append(map.L1?.ToString() ?? "none").Append('\n');
        text.Append("deadline=").Append(map.Deadline?.ToString() ?? "none").Append('\n');
        text.Append("partial=").Append(map.PartialKeys?.Describe() ?? "none").Append('\n');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static string ContentHash(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            return Convert.ToHexString(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unreadable";   // opening the map reports it
        }
    }
}
