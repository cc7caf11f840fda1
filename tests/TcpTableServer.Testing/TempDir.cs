using System.Text;

namespace TcpTableServer.Tests.Support;

/// <summary>A private temporary directory for one test's files, removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("tcptable-").FullName;

    /// <summary>The full path of <paramref name="name"/> inside the directory.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string this[string name] => File(name);

    /// <summary>Writes text as Latin-1 bytes (octets: char = byte) and returns the full path.</summary>
    public string Write(string name, string text)
    {
        string full = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, Encoding.Latin1.GetBytes(text));
        return full;
    }

    /// <summary>Writes text (UTF-8) and returns the full path.</summary>
    public string File(string name, string content)
    {
        string full = File(name);
        System.IO.File.WriteAllText(full, content);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
