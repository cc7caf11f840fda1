using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Protocols.Socketmap;

/// <summary>socketmap_table(5) server side; maps are chosen by name, case-sensitive (spec section 2).</summary>
public sealed class SocketmapConnectionHandler(
    IReadOnlyDictionary<string, ITable> maps, TimeSpan idleTimeout, ILogger<SocketmapConnectionHandler> logger)
    : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) =>
        throw new NotImplementedException("protocols helper");
}
