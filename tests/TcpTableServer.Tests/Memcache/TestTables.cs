using TcpTableServer.Tests.Support;
using Microsoft.Extensions.Logging;
using TcpTableServer.Config;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// Test double for a Postfix fixed-key table ("backup" in spec 7.1): keys stored lower
/// case, lookups case-insensitive, writable, sequenceable. Records every key it is asked for.
/// </summary>
internal sealed class FixedKeyTable(string name, params (string Key, string Value)[] entries) : ITable
{
    private readonly Dictionary<string, string> _entries =
        entries.ToDictionary(e => Octets.FoldAscii(e.Key), e => e.Value, StringComparer.Ordinal);

    public string Name => name;
    public List<string> Requests { get; } = [];
    public IReadOnlyDictionary<string, string> Entries => _entries;

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        Requests.Add("lookup " + key);
        return ValueTask.FromResult(_entries.TryGetValue(Octets.FoldAscii(key), out var v)
            ? LookupResult.Found(v) : LookupResult.NotFound);
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        Requests.Add("update " + key);
        _entries[Octets.FoldAscii(key)] = value;
        return ValueTask.FromResult(UpdateResult.Success);
    }

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
    {
        Requests.Add("delete " + key);
        return ValueTask.FromResult(_entries.Remove(Octets.FoldAscii(key)) ? UpdateResult.Success : UpdateResult.Fail);
    }

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) =>
        ValueTask.FromResult(SequenceResult.Of([.. _entries]));

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>"backup table that fails" / "table that fails" (spec 7.1): every operation is an error.</summary>
internal sealed class FailingTable(string name, ErrorClass error = ErrorClass.Retry) : ITable
{
    public string Name => name;
    public int Calls { get; private set; }

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default)
    {
        Calls++;
        return ValueTask.FromResult(LookupResult.Error(error));
    }

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default)
    {
        Calls++;
        return ValueTask.FromResult(UpdateResult.Error(error));
    }

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default)
    {
        Calls++;
        return ValueTask.FromResult(UpdateResult.Error(error));
    }

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
    {
        Calls++;
        return ValueTask.FromResult(error == ErrorClass.Config ? SequenceResult.ConfigError : SequenceResult.TempError);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>
/// Opens registered tables by spec, <c>inline:{k=v, ...}</c> as a <see cref="FixedKeyTable"/>
/// and <c>fail:name</c> as a <see cref="FailingTable"/>; anything else is a ConfigException.
/// </summary>
internal sealed class TestTableFactory : ITableFactory
{
    public Dictionary<string, ITable> Registered { get; } = new(StringComparer.Ordinal);
    public List<(string Spec, string BaseDirectory)> Opened { get; } = [];

    public ITable Open(string spec, string baseDirectory)
    {
        Opened.Add((spec, baseDirectory));
        if (Registered.TryGetValue(spec, out var t)) return t;
        if (spec.StartsWith("inline:{", StringComparison.Ordinal) && spec.EndsWith('}'))
        {
            var entries = spec[8..^1].Split([',', ' '], StringSplitOptions.RemoveEmptyEntries)
                .Select(e => e.Split('=', 2)).Select(kv => (kv[0], kv.Length > 1 ? kv[1] : "")).ToArray();
            return new FixedKeyTable(spec, entries);
        }
        if (spec.StartsWith("fail:", StringComparison.Ordinal)) return new FailingTable(spec);
        throw new ConfigException($"unsupported dictionary type: {spec}");
    }
}

/// <summary>Builds a parameter dictionary as the .cf reader would, from "name = value" lines.</summary>
internal static class Cf
{
    public const string File = "test.cf";

    public static IReadOnlyDictionary<string, ConfigValue> Params(params string[] lines)
    {
        var d = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            int eq = lines[i].IndexOf('=');
            string name = lines[i][..eq].Trim(), value = lines[i][(eq + 1)..].Trim();
            d[name] = new ConfigValue(name, value, File, i + 1);
        }
        return d;
    }
}
