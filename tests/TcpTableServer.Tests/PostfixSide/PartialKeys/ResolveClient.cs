using System.Net.Sockets;
using System.Text;

namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// A client of trivial-rewrite's resolve service (Postfix's resolve_clnt, global/resolve_clnt.c)
/// over its private UNIX socket, in Postfix's null-terminated attribute protocol (attr_print0):
/// the server announces "protocol = trivial_rewrite_protocol"; a request is request = resolve, sender,
/// address; the reply is flags, transport, nexthop, recipient, flags.
/// </summary>
public sealed class ResolveClient : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly NetworkStream _stream;

    public ResolveClient(string socketPath)
    {
        _socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        _socket.ReceiveTimeout = 20000;
        _stream = new NetworkStream(_socket);
        var hello = ReadAttributes();
        if (hello.GetValueOrDefault("protocol") != "trivial_rewrite_protocol")
            throw new IOException("not a trivial-rewrite service: " + string.Join(", ", hello));
    }

    /// <summary>"transport nexthop recipient flags" of <paramref name="address"/> (internal form).</summary>
    public string Resolve(string address)
    {
        var request = new StringBuilder();
        foreach (var (name, value) in new[] { ("request", "resolve"), ("sender", ""), ("address", address) })
            request.Append(name).Append('\0').Append(value).Append('\0');
        request.Append('\0');
        _stream.Write(Encoding.Latin1.GetBytes(request.ToString()));
        var reply = ReadAttributes();
        return $"{reply["transport"]} {reply["nexthop"]} {reply["recipient"]} flags={reply["flags"]}";
    }

    /// <summary>name/value pairs up to the empty name (the last "flags" wins; both are the same field).</summary>
    private Dictionary<string, string> ReadAttributes()
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            string name = ReadString();
            if (name.Length == 0) return attributes;
            attributes[name] = ReadString();
        }
    }

    private string ReadString()
    {
        var bytes = new List<byte>();
        while (true)
        {
            int b = _stream.ReadByte();
            if (b < 0) throw new IOException("connection closed");
            if (b == 0) return Encoding.Latin1.GetString([.. bytes]);
            bytes.Add((byte)b);
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
