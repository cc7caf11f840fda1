using Microsoft.Extensions.Logging;

namespace TcpTableServer.Config;

/// <summary>Reads the server INI file (and the .cf files it names) into a <see cref="ServerDefinition"/>.</summary>
public static class ServerConfigLoader
{
    /// <summary>Throws <see cref="ConfigException"/> naming file and line on any error.</summary>
    public static ServerDefinition Load(string iniPath, ILogger logger) =>
        throw new NotImplementedException("config helper");
}
