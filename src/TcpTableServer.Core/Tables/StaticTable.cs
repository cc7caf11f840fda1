using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// <c>static:value</c> or <c>static:{ text with spaces }</c> (Postfix dict_static): every
/// key, whatever it is, maps to the value. Read-only (<see cref="ReadOnlyTable"/>); it
/// cannot be sequenced (Postfix: "sequence operation is not supported"), which is answered
/// with a warning and <see cref="UpdateStatus.ConfigError"/>.
/// </summary>
public sealed class StaticTable : ReadOnlyTable
{
    private readonly LookupResult _result;

    private StaticTable(string name, string value, ILogger logger) : base(name, logger) =>
        _result = LookupResult.Found(value);

    /// <summary>The value every lookup returns.</summary>
    public string Value => _result.Value!;

    /// <param name="name">The text after "static:".</param>
    public static StaticTable Open(string name, ILogger logger)
    {
        string value = name;
        if (name.StartsWith('{'))
            value = PostfixSyntax.StripBraces(name, out var error)
                ?? throw new ConfigException($"bad static:name syntax: {error}");
        return new StaticTable("static:" + name, value, logger);
    }

    public override ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) =>
        ValueTask.FromResult(_result);

    public override ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default)
    {
        Logger.LogWarning("{Table}: sequence operation is not supported", Name);
        return ValueTask.FromResult(SequenceResult.ConfigError);
    }
}
