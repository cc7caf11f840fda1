using Microsoft.Extensions.Logging;
using TcpTableServer.Config;

namespace TcpTableServer.Tables;

/// <summary>
/// Opens tables as Postfix does in UTF-8 mode (<c>smtputf8_enable = yes</c>, spec 3.3): each one
/// behind a <see cref="Utf8Table"/>. An <c>inline:</c> table whose text is not valid UTF-8
/// cannot be opened ("bad UTF-8 syntax", as Postfix's dict_inline says). With
/// <c>foldKeys</c>, texthash and inline keys are Unicode-folded at load, texthash lines that are
/// not UTF-8 ignored (as Debian's Postfix does, checked with postmap).
/// </summary>
/// <param name="inner">opens the tables themselves</param>
/// <param name="foldKeys">the layer folds keys (a memcache backup of a map with fold_keys = yes)
/// or only validates them (tables in a domain list: Postfix folds the domain itself)</param>
public sealed class Utf8TableFactory(ITableFactory inner, bool foldKeys, ILogger logger) : ITableFactory
{
    public ITable Open(string spec, string baseDirectory) => Open(spec, baseDirectory, TableOpenOptions.Default);

    public ITable Open(string spec, string baseDirectory, TableOpenOptions options)
    {
        if (spec.StartsWith("inline:", StringComparison.Ordinal) && !CaseFolding.IsValidUtf8(spec.AsSpan(7)))
            throw new ConfigException($"bad UTF-8 syntax: \"{Octets.ToDisplay(spec)}\"; need \"inline:{{name=value...}}\"");
        return new Utf8Table(inner.Open(spec, baseDirectory, options with { Utf8 = foldKeys }), foldKeys, logger);
    }
}
