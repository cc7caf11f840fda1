using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using TcpTableServer.Config;
using TcpTableServer.Memcache;
using TcpTableServer.Tables;
using TcpTableServer.Keys;

namespace TcpTableServer.Benchmarks;

/// <summary>
/// Key preparation per request (spec 3.2, section 4 key_format, section 5 domain): the
/// allocations per request of key_format expansion, domain matching and the whole preparer.
/// </summary>
[MemoryDiagnoser, ShortRunJob]
public class KeyBenchmarks
{
    private const string Key = "user1234@mail.example.com";
    private KeyFormat _identity = KeyFormat.Default, _prefixed = KeyFormat.Default, _labels = KeyFormat.Default;
    private DomainFilter? _domains;
    private KeyPreparer _plain = null!, _full = null!;
    private TableFactory _tables = null!;

    [GlobalSetup]
    public void Setup()
    {
        _prefixed = KeyFormat.Parse("aliases:%s", out _)!;
        _labels = KeyFormat.Parse("%u@%2.%1/%d", out _)!;
        _tables = new TableFactory(NullLoggerFactory.Instance);
        var list = new ConfigValue("domain",
            "example.net, example.org, !spam.example.com, a.example, b.example, c.example, mail.example.com",
            "bench.cf", 1);
        _domains = DomainFilter.Parse(list, _tables, Path.GetTempPath(), "bench", NullLogger.Instance);
        var endpoint = EndpointSpec.TryParse("inet:127.0.0.1:11211", out _)!;
        _plain = new KeyPreparer(MemcacheSettings.Defaults(endpoint));
        _full = new KeyPreparer(MemcacheSettings.Defaults(endpoint) with { KeyFormat = _prefixed, Domain = _domains });

        // measure the success paths, not an early failure
        if (ExpandPrefixedOrNull() is null || KeyFormatLabels() is null || !DomainLiteralMatch().AsTask().Result
            || DomainLiteralMismatch().AsTask().Result || PrepareDomainAndPrefix().AsTask().Result != "aliases:" + Key)
            throw new InvalidOperationException("bad benchmark setup");
    }

    private string? ExpandPrefixedOrNull() => _prefixed.Expand(Key);

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_domains is not null) await _domains.DisposeAsync();
    }

    /// <summary>key_format %s</summary>
    [Benchmark]
    public string? KeyFormatIdentity() => _identity.Expand(Key);

    /// <summary>key_format aliases:%s</summary>
    [Benchmark]
    public string? KeyFormatPrefixed() => _prefixed.Expand(Key);

    /// <summary>key_format %u@%2.%1/%d</summary>
    [Benchmark]
    public string? KeyFormatLabels() => _labels.Expand(Key);

    /// <summary>domain: 7 literals, last matches</summary>
    [Benchmark]
    public async ValueTask<bool> DomainLiteralMatch() => (await _domains!.CheckAsync(Key, default)).Matches;

    /// <summary>domain: 7 literals, none matches</summary>
    [Benchmark]
    public async ValueTask<bool> DomainLiteralMismatch() => (await _domains!.CheckAsync("user@other.example", default)).Matches;

    /// <summary>KeyPreparer: defaults</summary>
    [Benchmark]
    public async ValueTask<string> PrepareDefaults() => (await _plain.PrepareAsync(Key, default)).MemcacheKey;

    /// <summary>KeyPreparer: domain + aliases:%s</summary>
    [Benchmark]
    public async ValueTask<string> PrepareDomainAndPrefix() => (await _full.PrepareAsync(Key, default)).MemcacheKey;
}
