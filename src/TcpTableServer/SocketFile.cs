using System.Net.Sockets;
using System.Runtime.InteropServices;
using TcpTableServer.Config;

namespace TcpTableServer.Host;

/// <summary>
/// A UNIX listener's socket file: a stale one from a crashed run is removed before the bind
/// (<see cref="RemoveStale"/>), the file is removed when the listener stops
/// (<see cref="TryDelete"/>), and between the two it is as the listener options say (<c>mode=0660 group=postfix</c>,
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
    private static uint Resolve(string name, string file, string what) =>
        uint.TryParse(name, out uint id) ? id
        : Privileges.IdOf(name, file) ?? throw new ConfigException($"{what} {name}: not found in {file}");

    /// <summary>A socket file left by a previous run would make the bind fail; remove it, nothing else.</summary>
    public static void RemoveStale(string path)
    {
        if (File.Exists(path) && IsDeadSocket(path)) File.Delete(path);
    }

    /// <summary>Removes the socket file of a listener that has stopped (if nobody serves there now).</summary>
    public static void TryDelete(string path)
    {
        try { if (IsDeadSocket(path)) File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static bool IsDeadSocket(string path)
    {
        try
        {
            using (File.OpenRead(path)) return false; // a regular file opens; a socket does not (ENXIO)
        }
        catch (FileNotFoundException) { return false; }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { return false; }
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Connect(new UnixDomainSocketEndPoint(path));
            return false; // somebody is serving there: leave it, the bind will report the conflict
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, int owner, int group);
}
