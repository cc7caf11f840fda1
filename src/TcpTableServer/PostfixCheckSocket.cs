using System.Runtime.InteropServices;

namespace TcpTableServer.Host;

/// <summary>
/// Whether a Postfix daemon, running as <c>mail_owner</c> with that user's primary and
/// supplementary groups (chroot_uid.c: setgid, initgroups, setuid), can connect to a UNIX
/// socket: connect(2) needs write permission on the socket file and search permission on every
/// directory above it. Owner and group come from statx(2); users and groups from /etc/passwd
/// and /etc/group.
/// </summary>
internal static partial class PostfixSocketAccess
{
    /// <param name="Groups">the primary group and every supplementary one</param>
    public readonly record struct Identity(uint Uid, IReadOnlyList<uint> Groups);

    /// <summary>The user's uid and every group (primary and supplementary), or null when unknown.</summary>
    public static Identity? Lookup(string user, string passwd = "/etc/passwd", string group = "/etc/group")
    {
        if (Privileges.Lookup(user, passwd) is not { } ids) return null;
        return new Identity(ids.Uid, [ids.Gid, .. Privileges.GroupsListing(user, group)]);
    }

    /// <summary>
    /// The permission bits that apply to <paramref name="who"/> (owner, else group, else other)
    /// contain <paramref name="need"/> (2 write, 1 search); root passes.
    /// </summary>
    public static bool Allows(Identity who, uint ownerUid, uint ownerGid, int mode, int need)
    {
        if (who.Uid == 0) return true;
        int bits = who.Uid == ownerUid ? mode >> 6 : who.Groups.Contains(ownerGid) ? mode >> 3 : mode;
        return (bits & need) == need;
    }

    /// <summary>Why <paramref name="who"/> cannot connect to <paramref name="path"/> (absolute), or null when it can.</summary>
    public static string? WhyNot(string path, string user, Identity who)
    {
        if (Stat(path) is not { } st) return $"{path} does not exist";
        if ((st.Mode & 0xF000) != 0xC000) return $"{path} is not a socket";
        if (!Allows(who, st.Uid, st.Gid, st.Mode, 2))
            return $"user {user} has no write permission on {path} ({Describe(st)})";
        for (string? dir = Path.GetDirectoryName(path); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (Stat(dir) is not { } d) return $"{dir} cannot be read";
            if (!Allows(who, d.Uid, d.Gid, d.Mode, 1))
                return $"user {user} has no search permission on directory {dir} ({Describe(d)})";
        }
        return null;
    }

    private static string Describe(FileStat st) =>
        $"mode {Convert.ToString(st.Mode & 0xFFF, 8).PadLeft(4, '0')} owner {Privileges.NameOf(st.Uid, "/etc/passwd")} group {Privileges.NameOf(st.Gid, "/etc/group")}";

    public readonly record struct FileStat(uint Uid, uint Gid, int Mode);

    /// <summary>statx(2), following symbolic links as connect(2) does; null when it fails.</summary>
    public static unsafe FileStat? Stat(string path)
    {
        // struct statx is the same on every Linux architecture: uid at 20, gid at 24, mode (u16) at 28
        byte* buf = stackalloc byte[256];
        if (statx(AtFdCwd, path, 0, StatxBasicStats, buf) != 0) return null;
        return new FileStat(*(uint*)(buf + 20), *(uint*)(buf + 24), *(ushort*)(buf + 28));
    }

    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buf);
}
