using Microsoft.Extensions.Logging;

namespace TcpTableServer.Protocols;

/// <summary>Log messages of the protocol handlers and the connection gate (source generated, no per-call boxing).</summary>
internal static partial class ProtocolLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "{Connection}: table {Table} failed unexpectedly; answering temporary failure")]
    public static partial void TableFailed(ILogger logger, string connection, string table, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Connection}: {Reason}; closing the connection without reply")]
    public static partial void ProtocolViolation(ILogger logger, string connection, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Connection}: idle timeout, closing the connection")]
    public static partial void IdleTimeout(ILogger logger, string connection);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Connection}: closed to make room at the connection limit")]
    public static partial void Evicted(ILogger logger, string connection);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Connection}: connection ended by transport error")]
    public static partial void TransportError(ILogger logger, string connection, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Listener}: connection limit reached ({Connections} open): closed {Connection}, idle for {IdleSeconds:0.#} s, the longest idle, to admit a new connection")]
    public static partial void ConnectionEvicted(ILogger logger, string listener, int connections, string connection, double idleSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Listener}: connection limit reached ({Connections} open, none waiting for input, or evicted ones still closing): refused a new connection")]
    public static partial void ConnectionRefused(ILogger logger, string listener, int connections);
}
