namespace TcpTableServer.Tables.Lmdb;

/// <summary>The registry key of a database file: one key for every path to one file.</summary>
internal static class FileIdentity
{
    /// <summary>
    /// "dev:ino" of an existing file (two spellings, symbolic or hard links, share one
    /// instance); the full path of a file that does not exist yet.
    /// </summary>
    public static string KeyOf(string file) =>
        Posix.TryStat(file, out var s, out _) ? $"{s.Device}:{s.Inode}" : Path.GetFullPath(file);
}
