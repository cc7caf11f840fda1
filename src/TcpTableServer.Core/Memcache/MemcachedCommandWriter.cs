using System.Buffers.Text;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// The exact command bytes of spec 3.8, written straight into a send buffer (no strings):
/// <c>get &lt;key&gt;\r\n</c>, <c>set &lt;key&gt; &lt;flags&gt; &lt;ttl&gt; &lt;len&gt;\r\n&lt;value&gt;\r\n</c>,
/// <c>delete &lt;key&gt;\r\n</c>. Keys and values are octet strings.
/// </summary>
internal static class MemcachedCommandWriter
{
    private const int MaxInt32Chars = 11;

    /// <summary>Upper bound of the bytes <see cref="Write"/> produces.</summary>
    public static int MaxLength(MemcachedCommand command, string key, string? value) => command switch
    {
        MemcachedCommand.Get => 4 + key.Length + 2,
        MemcachedCommand.Delete => 7 + key.Length + 2,
        _ => 4 + key.Length + 3 * (1 + MaxInt32Chars) + 2 + value!.Length + 2,
    };

    /// <summary>Writes the command into <paramref name="dest"/>; returns the bytes written.</summary>
    public static int Write(Span<byte> dest, MemcachedCommand command, string key, string? value, int flags, int ttl)
    {
        int n;
        switch (command)
        {
            case MemcachedCommand.Get:
                "get "u8.CopyTo(dest);
                n = 4;
                break;
            case MemcachedCommand.Delete:
                "delete "u8.CopyTo(dest);
                n = 7;
                break;
            default:
                "set "u8.CopyTo(dest);
                n = 4;
                break;
        }
        n += Octets.GetBytes(key, dest[n..]);
        if (command == MemcachedCommand.Set)
        {
            n += WriteNumber(dest[n..], flags);
            n += WriteNumber(dest[n..], ttl);
            n += WriteNumber(dest[n..], value!.Length);
            "\r\n"u8.CopyTo(dest[n..]);
            n += 2;
            n += Octets.GetBytes(value, dest[n..]);
        }
        "\r\n"u8.CopyTo(dest[n..]);
        return n + 2;
    }

    private static int WriteNumber(Span<byte> dest, int value)
    {
        dest[0] = (byte)' ';
        Utf8Formatter.TryFormat(value, dest[1..], out int written);
        return 1 + written;
    }
}
