using Microsoft.Extensions.Logging;

namespace TcpTableServer.Tables;

/// <summary>Opens the table types we support: texthash, inline, static, fail, lmdb.</summary>
public sealed class TableFactory(ILoggerFactory loggers) : ITableFactory
{
    public ITable Open(string spec, string baseDirectory) =>
        throw new NotImplementedException("tables helper");
}
