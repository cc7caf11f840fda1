using System.Runtime.InteropServices;
using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>
/// A UNIX listener's socket file as the listener options say (<c>mode=0660 group=postfix</c>,
/// <c>owner=NAME</c>): applied right after the bind, before the server is reported ready. Until
/// then the file has the umask's mode, which for a socket means fewer clients, never more
/// (connecting needs write permission). Users and groups are names from /etc/passwd and
/// /etc/group (as sysusers and adduser create them) or numbers.
/// </summary>
internal static partial class SocketFile
{
    public static void Apply(EndpointSpec ep)
    {
        if (ep.Owner is not null || ep.Group is not null)
        {
            int uid = ep.Owner is { } owner ? (int)Resolve(owner, "/etc/passwd", "owner") : -1;
            int gid = ep.Group is { } group ? (int)Resolve(group, "/etc/group", "group") : -1;
            if (chown(ep.Path, uid, gid) != 0)
                throw new IOException($"listener {ep}: chown {ep.Owner ?? ""}:{ep.Group ?? ""}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        if (ep.Mode is { } mode && !OperatingSystem.IsWindows()) File.SetUnixFileMode(ep.Path, mode);
    }

    /// <summary>A name's id from a passwd/group file (third field), or the number given.</summary>
    private static uint Resolve(string name, string file, string what)
    {
        if (uint.TryParse(name, out uint id)) return id;
        if (File.Exists(file))
            foreach (string line in File.ReadLines(file))
            {
                var f = line.Split(':');
                if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], out id)) return id;
            }
        throw new ConfigException($"{what} {name}: not found in {file}");
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);
}
