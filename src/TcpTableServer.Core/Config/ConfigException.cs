namespace TcpTableServer.Config;

/// <summary>
/// A configuration error found at start-up. The message always names the file and, where
/// known, the line and parameter: "aliases.cf:3: ttl: bad numerical configuration: 60 # x".
/// </summary>
public sealed class ConfigException : Exception
{
    public string? File { get; }
    public int Line { get; }

    public ConfigException(string message, string? file = null, int line = 0, Exception? inner = null)
        : base(Format(message, file, line), inner)
    {
        File = file;
        Line = line;
    }

    public ConfigException(string message, ConfigValue at, Exception? inner = null)
        : this($"{at.Name}: {message}", at.File, at.Line, inner) { }

    private static string Format(string message, string? file, int line) =>
        file is null ? message : line > 0 ? $"{file}:{line}: {message}" : $"{file}: {message}";
}
