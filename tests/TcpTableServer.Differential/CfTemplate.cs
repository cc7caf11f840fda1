using System.Text;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Differential;

/// <summary>
/// An operator's memcache_table(5) file (spec 6), copied per side: the `memcache` line points
/// at that side's own memcached, and a `texthash:` or `lmdb:` backup becomes that side's own
/// copy (lmdb files are built from the source text with `postmap -c DIR lmdb:FILE`, or copied
/// when only FILE.lmdb exists). Every other line is kept as written. `@CFDIR@` anywhere in
/// the file is replaced by the file's folder (a convenience for the repository's own files,
/// whose domain lists name files by absolute path).
/// </summary>
public sealed class CfTemplate
{
    public string Name { get; }
    public string Path { get; }
    private readonly List<(string? Name, string Text)> _lines = [];   // logical-line name (null for comments) and physical text
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public CfTemplate(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Name = new string([.. System.IO.Path.GetFileNameWithoutExtension(path).Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_')]);
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        string? current = null;
        foreach (var raw in File.ReadAllText(Path, Encoding.Latin1).Replace("@CFDIR@", dir).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) { _lines.Add((null, line)); continue; }
            if (char.IsWhiteSpace(line[0]))
            {
                if (current is not null) _values[current] += line;
                _lines.Add((current, line));
                continue;
            }
            int eq = line.IndexOf('=');
            current = eq < 0 ? line.Trim() : line[..eq].Trim();
            _values[current] = eq < 0 ? "" : line[(eq + 1)..];
            _lines.Add((current, line));
        }
        foreach (var k in _values.Keys.ToList()) _values[k] = _values[k].Trim();
    }

    public string? Value(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public string? Backup => Value("backup") is { Length: > 0 } b ? b : null;

    /// <summary>The key_digest algorithm, if any (Postfix 3.7 ignores it: spec 8.2).</summary>
    public string? KeyDigest => Value("key_digest") is { Length: > 0 } d ? d : null;

    private (string Type, string File)? FileBackup()
    {
        if (Backup is not { } b) return null;
        int colon = b.IndexOf(':');
        if (colon < 0) return null;
        var type = b[..colon];
        if (type is not ("texthash" or "lmdb")) return null;
        var file = b[(colon + 1)..];
        return (type, System.IO.Path.IsPathRooted(file) ? file : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, file));
    }

    /// <summary>True when updates and deletes can run: no backup, or an lmdb backup (texthash is read-only, spec 3.11).</summary>
    public bool Writable => Backup is null || FileBackup() is ("lmdb", _);

    public bool HasLmdbBackup => FileBackup() is ("lmdb", _);

    /// <summary>Keys of a texthash/lmdb backup's source text (for the corpus: backup hits).</summary>
    public IEnumerable<string> BackupSourceKeys()
    {
        if (FileBackup() is not { } fb || !File.Exists(fb.File)) yield break;
        foreach (var line in File.ReadAllText(fb.File, Encoding.Latin1).Split('\n'))
        {
            if (line.Length == 0 || char.IsWhiteSpace(line[0]) || line[0] == '#') continue;
            int end = line.IndexOfAny([' ', '\t', '\r']);
            yield return end < 0 ? line : line[..end];
        }
    }

    /// <summary>Writes this side's copy into <paramref name="sideDir"/>; returns its path and its backup file (null if none).</summary>
    public (string Cf, string? BackupFile) WriteSide(string sideDir, string memcache, Postfix postfix, bool withBackup = true)
    {
        Directory.CreateDirectory(sideDir);
        var sb = new StringBuilder();
        foreach (var (name, text) in _lines)
            if (name is not ("memcache" or "backup")) sb.Append(text).Append('\n');
        sb.Append("memcache = ").Append(memcache).Append('\n');
        string? backupFile = null;
        if (withBackup && Backup is { } b)
        {
            if (FileBackup() is { } fb)
            {
                backupFile = System.IO.Path.Combine(sideDir, Name + ".backup");
                if (File.Exists(fb.File)) File.Copy(fb.File, backupFile, true);
                if (fb.Type == "lmdb")
                {
                    if (File.Exists(fb.File)) postfix.PostmapChecked(["lmdb:" + backupFile]);
                    else File.Copy(fb.File + ".lmdb", backupFile + ".lmdb", true);
                }
                sb.Append("backup = ").Append(fb.Type).Append(':').Append(backupFile).Append('\n');
            }
            else sb.Append("backup = ").Append(b).Append('\n');
        }
        var cf = System.IO.Path.Combine(sideDir, Name + ".cf");
        File.WriteAllText(cf, sb.ToString(), Encoding.Latin1);
        return (cf, backupFile);
    }
}
