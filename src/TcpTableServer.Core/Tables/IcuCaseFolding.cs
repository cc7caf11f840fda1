using System.Buffers;
using System.Runtime.InteropServices;

namespace TcpTableServer.Tables;

/// <summary>
/// Unicode full case folding by the system's ICU (libicuuc, the library Debian's Postfix links),
/// through the very calls Postfix's casefold() makes in UTF-8 mode:
/// <c>ucasemap_open("en_US", U_FOLD_CASE_DEFAULT)</c> once, then
/// <c>ucasemap_utf8FoldCase</c> on the UTF-8 bytes. Bytes that are not UTF-8 are copied as they
/// are (ICU's behaviour, which Postfix relies on). ICU's exported names carry its major version
/// (<c>ucasemap_open_72</c>): the library is found the way .NET's globalization finds it, by
/// probing <c>libicuuc.so.N</c> from the newest major version down.
/// </summary>
internal static unsafe class IcuCaseFolding
{
    private const int NewestMajor = 120, OldestMajor = 50;
    private const int U_BUFFER_OVERFLOW_ERROR = 15;
    private const uint U_FOLD_CASE_DEFAULT = 0;

    private sealed class Icu
    {
        public required IntPtr CaseMap;   // a UCaseMap*, opened once, never closed; used read-only (const) by every thread
        public required delegate* unmanaged<IntPtr, byte*, int, byte*, int, int*, int> FoldCase;
    }

    private static readonly Lazy<(Icu? Icu, string? Error)> Library = new(Load);

    /// <summary>Null when ICU is usable, else why not (for the configuration error).</summary>
    public static string? Unavailable => Library.Value.Error;

    /// <summary>
    /// The folded form of the octet string <paramref name="octets"/> (its bytes taken as UTF-8),
    /// or null when ICU is not available or reports an error (it has none for any input).
    /// </summary>
    public static string? Fold(ReadOnlySpan<char> octets)
    {
        if (Library.Value.Icu is not { } icu) return null;
        byte[]? rentedSource = null, rentedFolded = null;
        try
        {
            Span<byte> source = octets.Length <= 256
                ? stackalloc byte[256]
                : (rentedSource = ArrayPool<byte>.Shared.Rent(octets.Length));
            source = source[..Octets.Encoding.GetBytes(octets, source)];
            int capacity = 3 * source.Length + 16;   // full folding grows a character to 3 at most
            for (int attempt = 0; attempt < 3; attempt++)
            {
                rentedFolded = ArrayPool<byte>.Shared.Rent(capacity);
                int error = 0, length;
                fixed (byte* src = source)
                fixed (byte* dest = rentedFolded)
                    length = icu.FoldCase(icu.CaseMap, dest, rentedFolded.Length, src, source.Length, &error);
                if (error <= 0) return Octets.FromBytes(rentedFolded.AsSpan(0, length));
                ArrayPool<byte>.Shared.Return(rentedFolded);
                rentedFolded = null;
                if (error != U_BUFFER_OVERFLOW_ERROR) return null;
                capacity = length + 1;
            }
            return null;
        }
        finally
        {
            if (rentedSource is not null) ArrayPool<byte>.Shared.Return(rentedSource);
            if (rentedFolded is not null) ArrayPool<byte>.Shared.Return(rentedFolded);
        }
    }

    private static (Icu?, string?) Load()
    {
        if (!OperatingSystem.IsLinux()) return (null, "Unicode case folding needs the ICU library (libicuuc), looked up on Linux only");
        for (int major = NewestMajor; major >= OldestMajor; major--)
        {
            if (!NativeLibrary.TryLoad($"libicuuc.so.{major}", out var handle)) continue;
            if ((Open(handle, "_" + major) ?? Open(handle, "")) is { } icu) return (icu, null);
            return (null, $"libicuuc.so.{major} has no ucasemap_utf8FoldCase");
        }
        return (null, $"the ICU library (libicuuc.so.{OldestMajor} to .{NewestMajor}, Debian package libicuNN) is not installed");
    }

    private static Icu? Open(IntPtr handle, string suffix)
    {
        if (!NativeLibrary.TryGetExport(handle, "ucasemap_open" + suffix, out var open)
            || !NativeLibrary.TryGetExport(handle, "ucasemap_utf8FoldCase" + suffix, out var fold))
            return null;
        var openCaseMap = (delegate* unmanaged<byte*, uint, int*, IntPtr>)open;
        int error = 0;
        IntPtr caseMap;
        fixed (byte* locale = "en_US\0"u8)
            caseMap = openCaseMap(locale, U_FOLD_CASE_DEFAULT, &error);
        if (error > 0 || caseMap == IntPtr.Zero) return null;
        return new Icu { CaseMap = caseMap, FoldCase = (delegate* unmanaged<IntPtr, byte*, int, byte*, int, int*, int>)fold };
    }
}
