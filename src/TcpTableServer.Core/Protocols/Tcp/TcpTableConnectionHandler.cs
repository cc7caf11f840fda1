using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Tcp;

/// <summary>tcp_table(5) server side for one map (spec section 1).</summary>
public sealed class TcpTableConnectionHandler(
    ITable table, bool allowPut, TimeSpan? idleTimeout, ILogger<TcpTableConnectionHandler> logger)
    : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) =>
        throw new NotImplementedException("protocols helper");
}
