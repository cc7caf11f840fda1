namespace TcpTableServer.Protocols.Tcp;

/// <summary>What a tcp_table request line asks for (spec 1.2, 1.7, 1.8).</summary>
public enum TcpCommand : byte
{
    /// <summary>Malformed or not allowed: answer <c>400 bad-request</c>, keep the connection.</summary>
    Bad,
    /// <summary><c>get SP key</c>: a lookup.</summary>
    Get,
    /// <summary><c>put SP key SP value</c>: an update (POLICY extension, only when enabled).</summary>
    Put,
}

/// <summary>One decoded tcp_table request; <see cref="Key"/> and <see cref="Value"/> are octet strings.</summary>
public readonly record struct TcpRequest(TcpCommand Command, string Key, string Value)
{
    public static readonly TcpRequest Bad = new(TcpCommand.Bad, "", "");
    public static TcpRequest Get(string key) => new(TcpCommand.Get, key, "");
    public static TcpRequest Put(string key, string value) => new(TcpCommand.Put, key, value);
}

/// <summary>Outcome of <see cref="TcpCodec.TryRead"/>.</summary>
public enum TcpReadStatus : byte
{
    /// <summary>No complete line buffered yet; everything was examined.</summary>
    NeedMoreData,
    /// <summary>A request line was consumed (it may still be a <see cref="TcpCommand.Bad"/> one).</summary>
    Request,
    /// <summary>The line exceeds the server limit: close without reply (spec 1.7, S10).</summary>
    LineTooLong,
}
