using System.Reflection;
using System.Runtime.InteropServices;
using LightningDB;

namespace TcpTableServer.Tables.Lmdb;

/// <summary>
/// Points LightningDB's P/Invokes (library name "lmdb") at the system's LMDB
/// (<c>liblmdb.so.0</c>, Debian's liblmdb0, the library Postfix's postfix-lmdb uses) instead
/// of the native library bundled with the package, which needs a newer glibc than Debian 12
/// and is a different LMDB build. Falls back to the default probing elsewhere.
/// </summary>
internal static class LmdbNativeLibrary
{
    private static readonly string[] Candidates = ["liblmdb.so.0", "liblmdb.so"];

    // The static initializer runs exactly once, before any caller of EnsureRegistered
    // continues, so no LightningDB call can race the resolver registration.
    private static readonly bool Registered = Register();

    private static readonly Lazy<IntPtr> SystemLibrary = new(LoadSystemLibrary);

    /// <summary>Call before the first LightningDB call.</summary>
    public static void EnsureRegistered() => _ = Registered;

    private static bool Register()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(LightningEnvironment).Assembly, Resolve);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;                       // a resolver is already set for LightningDB
        }
    }

    private static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName is "lmdb" or "liblmdb" && OperatingSystem.IsLinux() ? SystemLibrary.Value : IntPtr.Zero;

    private static IntPtr LoadSystemLibrary()
    {
        foreach (var candidate in Candidates)
            if (NativeLibrary.TryLoad(candidate, out var handle))
                return handle;
        return IntPtr.Zero;
    }
}
