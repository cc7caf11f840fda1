using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>
/// The payload of one socketmap request, <c>name SP key</c> (spec 2.3), split at the FIRST
/// space (S22). Raw bytes; the key may be empty and may hold spaces, CR, LF (S23).
/// </summary>
public readonly ref struct SocketmapRequest
{
    public SocketmapRequest(ReadOnlySpan<byte> mapName, ReadOnlySpan<byte> key)
    {
        MapName = mapName;
        Key = key;
    }

    public ReadOnlySpan<byte> MapName { get; }
    public ReadOnlySpan<byte> Key { get; }

    /// <summary>The key as an octet string (Latin-1 chars = bytes); a hot key's string is reused (<see cref="StringPool"/>).</summary>
    public string KeyOctets => StringPool.FromBytes(Key);

    /// <summary>False for a payload without a space, or an empty one: <c>PERM bad-request</c> (S15, S16).</summary>
    public static bool TryParse(ReadOnlySpan<byte> payload, out SocketmapRequest request)
    {
        int sp = payload.IndexOf((byte)' ');
        if (sp < 0)
        {
            request = default;
            return false;
        }
        request = new SocketmapRequest(payload[..sp], payload[(sp + 1)..]);
        return true;
    }
}
