using System.Text;

namespace TcpTableServer.Tests.Config;

/// <summary>A temporary directory for one test's configuration files, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tcptable-config-").FullName;

    /// <summary>Writes text as Latin-1 bytes (octets) and returns the full path.</summary>
    public string Write(string name, string text)
    {
        string full = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, Encoding.Latin1.GetBytes(text));
        return full;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
