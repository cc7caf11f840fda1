namespace TcpTableServer.Tables.Lmdb;

/// <summary>The registry key of a database file: one key for every path to one file.</summary>
internal static class FileIdentity
{
    /// <summary>
    /// "dev:ino/name": the identity of the file's directory and the file's name, after following
    /// a symbolic link at the file itself. Every spelling of the directory (symbolic links,
    /// "..") and a symbolic link to the file share one key, and the key is the same before and
    /// after the file is created or replaced, so two maps that create one missing file share one
    /// instance. Hard links under different names are not recognised. A directory that cannot
    /// be read gives the full path (opening the table fails then anyway).
    /// </summary>
    public static string KeyOf(string file)
    {
        file = Path.GetFullPath(file);
        try
        {
            if (File.ResolveLinkTarget(file, returnFinalTarget: true) is { } target) file = target.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // no such file yet (or no link to follow): the name as given
        }
        string? directory = Path.GetDirectoryName(file);
        return directory is not null && Posix.TryStat(directory, out var s, out _)
            ? $"{s.Device}:{s.Inode}/{Path.GetFileName(file)}"
            : file;
    }
}
