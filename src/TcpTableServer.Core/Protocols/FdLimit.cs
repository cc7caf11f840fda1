using System.Runtime.InteropServices;

namespace TcpTableServer.Protocols;

/// <summary>
/// The process's file descriptor limit (RLIMIT_NOFILE) and the default connection limit
/// derived from it. The .NET runtime raises the soft limit to the hard limit at start
/// (checked in /proc/PID/limits: soft 1024, hard 20000 becomes 20000/20000); <see cref="Raise"/>
/// does the same for a Native AOT build. Every connection holds one descriptor; the rest of the
/// process needs <see cref="Reserve"/> more: the runtime and its loaded assemblies (about 140
/// at start), memcached connections (at most 2 per memcached server), table files, logs,
/// listeners, the descriptors the runtime opens while it runs (/proc files) and connections
/// still closing after an eviction (<see cref="ConnectionGate.EvictionSlack"/>). A process that
/// meets EMFILE is not safe: Kestrel's accept loop spins on it and the runtime aborts.
/// </summary>
public static partial class FdLimit
{
    /// <summary>Descriptors kept for everything but client connections.</summary>
    public const int Reserve = 512;

    private const int RlimitNofile = 7; // Linux, every architecture .NET supports

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Maximum;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>The soft limit now; null when it cannot be read (not Linux) or is unlimited.</summary>
    public static long? Current()
    {
        if (!OperatingSystem.IsLinux() || GetRLimit(RlimitNofile, out RLimit l) != 0) return null;
        return l.Current >= long.MaxValue ? null : (long)l.Current;
    }

    /// <summary>Raises the soft limit to the hard limit (what CoreCLR does at start); best effort.</summary>
    public static void Raise()
    {
        if (!OperatingSystem.IsLinux() || GetRLimit(RlimitNofile, out RLimit l) != 0 || l.Current >= l.Maximum) return;
        SetRLimit(RlimitNofile, new RLimit { Current = l.Maximum, Maximum = l.Maximum });
    }

    /// <summary>
    /// The default <c>max_connections</c> for a descriptor limit: the limit minus
    /// <see cref="Reserve"/>, but never less than half the limit (a small limit such as 1024
    /// leaves 512 connections). No limit known: <see cref="int.MaxValue"/>.
    /// </summary>
    public static int DefaultMaxConnections(long? fdLimit)
    {
        if (fdLimit is not { } limit) return int.MaxValue;
        long max = Math.Max(limit - Reserve, limit / 2);
        return (int)Math.Clamp(max, 1, int.MaxValue);
    }
}
