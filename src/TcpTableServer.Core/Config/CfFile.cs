using Microsoft.Extensions.Logging;

namespace TcpTableServer.Config;

/// <summary>Reader for Postfix .cf parameter files (spec section 6).</summary>
public static class CfFile
{
    /// <summary>name -> value with file and line; last duplicate wins. Throws ConfigException.</summary>
    public static IReadOnlyDictionary<string, ConfigValue> Read(string path, ILogger logger) =>
        throw new NotImplementedException("config helper");
}
