using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace TcpTableServer.Host;

/// <summary>
/// Runs the server as an unprivileged user, as Postfix daemons do: started as root with
/// <c>[server] user = NAME</c>, the process binds its listeners and opens its tables first,
/// then takes NAME's group, supplementary groups and user id (setgid, initgroups, setuid;
/// glibc applies them to every thread). Started as root without <c>user</c> (and without
/// systemd's <c>User=</c>, which starts it unprivileged already) it warns and keeps root.
/// The user is looked up in /etc/passwd (system users, as sysusers and adduser create them).
/// </summary>
internal static partial class Privileges
{
    public static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    /// <summary>The (uid, gid) of <paramref name="user"/> from /etc/passwd, or null.</summary>
    public static (uint Uid, uint Gid)? Lookup(string user, string passwd = "/etc/passwd")
    {
        foreach (var f in Entries(passwd))
            if (f.Length >= 4 && f[0] == user && uint.TryParse(f[2], out uint uid) && uint.TryParse(f[3], out uint gid))
                return (uid, gid);
        return null;
    }

    /// <summary>The id (third field) of <paramref name="name"/> in a passwd or group file, or null.</summary>
    public static uint? IdOf(string name, string file)
    {
        foreach (var f in Entries(file))
            if (f.Length >= 3 && f[0] == name && uint.TryParse(f[2], out uint id)) return id;
        return null;
    }

    /// <summary>The name of <paramref name="id"/> in a passwd or group file, or the number.</summary>
    public static string NameOf(uint id, string file)
    {
        foreach (var f in Entries(file))
            if (f.Length >= 3 && uint.TryParse(f[2], out uint n) && n == id) return f[0];
        return id.ToString();
    }

    /// <summary>The groups of a group file that list <paramref name="user"/> as a member (supplementary groups).</summary>
    public static IEnumerable<uint> GroupsListing(string user, string group = "/etc/group")
    {
        foreach (var f in Entries(group))
            if (f.Length >= 4 && uint.TryParse(f[2], out uint gid) && f[3].Split(',').Contains(user)) yield return gid;
    }

    /// <summary>The colon-separated fields of each line of a passwd or group file (none when it is missing).</summary>
    private static IEnumerable<string[]> Entries(string file)
    {
        if (!File.Exists(file)) yield break;
        foreach (string line in File.ReadLines(file)) yield return line.Split(':');
    }

    /// <summary>
    /// Drops root for <paramref name="user"/> (null: warn when root). Returns an error text when
    /// the switch failed (the caller exits: serving as root by accident is worse than not serving).
    /// </summary>
    public static string? Drop(string? user, ILogger log)
    {
        if (!IsRoot) return null;
        if (user is null)
        {
            log.LogWarning("running as root: set user = NAME in [server] (or User= in the systemd unit) to serve unprivileged");
            return null;
        }
        if (Lookup(user) is not { } id) return $"user {user}: not found in /etc/passwd";
        if (setgid(id.Gid) != 0) return $"setgid({id.Gid}): {Marshal.GetLastPInvokeErrorMessage()}";
        if (initgroups(user, id.Gid) != 0) return $"initgroups({user}): {Marshal.GetLastPInvokeErrorMessage()}";
        if (setuid(id.Uid) != 0) return $"setuid({id.Uid}): {Marshal.GetLastPInvokeErrorMessage()}";
        if (geteuid() != id.Uid || setuid(0) == 0) return $"user {user}: root privileges could not be dropped";
        log.LogInformation("running as user {User} (uid {Uid}, gid {Gid})", user, id.Uid, id.Gid);
        return null;
    }

    [LibraryImport("libc")]
    private static partial uint geteuid();

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setuid(uint uid);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setgid(uint gid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int initgroups(string user, uint group);
}
