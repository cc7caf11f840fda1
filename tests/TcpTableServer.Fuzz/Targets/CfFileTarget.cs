using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Tables;
using static TcpTableServer.Fuzz.FuzzViolation;

namespace TcpTableServer.Fuzz.Targets;

/// <summary>
/// The memcache_table(5) <c>.cf</c> reader (spec 6.2-6.4). Invariants: the only exception is
/// <see cref="ConfigException"/>, naming the file and a line that exists; every entry has a
/// name without whitespace, '=' or NUL, a value without leading/trailing whitespace, NUL or
/// LF, and the line its logical line starts on; writing the entries back as
/// <c>name = value</c> lines and reading them again gives the same entries.
/// </summary>
public sealed class CfFileTarget : FuzzTarget
{
    private const string File = "fuzz.cf";

    public override string Name => "cf-file";

    public override IReadOnlyList<byte[]> Seeds { get; } = new[]
    {
        "memcache = inet:127.0.0.1:11211\nkey_format = aliases:%s\nttl = 3600\n",
        "# comment\nmemcache = inet:localhost:11211\nbackup = texthash:/etc/postfix/aliases\n\n  \t\nflags = 0\n",
        "key_format = aliases:\n  %s\n", "ttl = 60 # one hour\n", "ttl=5\r\nTTL = 6\r\n", "= x\n", "ttl 5\n",
        "  indented = first\nttl = 1\n", "domain = example.com, !other.example.com, /etc/postfix/domains\n",
        "ttl = 1\nttl = 2\n", "backup =\n", "a = b\0c\n", "memcache = unix:/var/run/memcached.sock\nmax_try = 2\n",
        "data_size_limit = 10240\nline_size_limit = 1024\ntimeout = 2\nretry_pause = 1\nkey_digest = sha256",
    }.Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override IReadOnlyList<byte[]> Tokens { get; } =
        new[] { "\n", "\r\n", " ", "\t", "=", "#", "\n  ", "ttl", "key_format", "\0", "\v", "\f" }
            .Select(s => Encoding.Latin1.GetBytes(s)).ToList();

    public override void Run(byte[] input, Random rng)
    {
        string text = Encoding.Latin1.GetString(input);
        int lines = text.Count(c => c == '\n') + 1;
        IReadOnlyDictionary<string, ConfigValue> entries;
        try
        {
            entries = CfFile.Parse(text, File, NullLogger.Instance);
        }
        catch (ConfigException e)
        {
            Check(e.File == File && e.Line >= 1 && e.Line <= lines, $"error names {e.File}:{e.Line} of {lines} lines");
            Check(e.Message.StartsWith($"{File}:{e.Line}: ", StringComparison.Ordinal), "error message without file:line");
            return;
        }
        foreach (var (name, v) in entries)
        {
            Check(name == v.Name && name.Length > 0, "entry keyed by another name, or empty");
            Check(!name.Any(c => PostfixSyntax.IsSpace(c) || c is '=' or '\0'), $"name with whitespace, '=' or NUL: {name}");
            Check(v.Value.Length == 0 || !PostfixSyntax.IsSpace(v.Value[0]) && !PostfixSyntax.IsSpace(v.Value[^1]), "value not trimmed");
            Check(!v.Value.Contains('\0') && !v.Value.Contains('\n'), "value with NUL or LF");
            Check(v.Line >= 1 && v.Line <= lines && v.File == File, $"entry at {v.File}:{v.Line} of {lines} lines");
        }
        string again = string.Concat(entries.Values.Select(v => $"{v.Name} = {v.Value}\n"));
        var reread = CfFile.Parse(again, File, NullLogger.Instance);
        Check(reread.Count == entries.Count && entries.All(e => reread.TryGetValue(e.Key, out var r) && r.Value == e.Value.Value),
            "entries written back as name = value read differently");
    }
}
