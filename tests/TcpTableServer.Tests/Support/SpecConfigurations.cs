namespace TcpTableServer.Tests.Support;

/// <summary>
/// The configurations of spec 7.2 (A..W): id -> (socketmap name, .cf lines). Placeholders:
/// <c>{mc}</c> the memcached endpoint, <c>{down}</c> an endpoint with nothing listening
/// (the spec's 127.0.0.1:11299), <c>{backup}</c> the "backup" table. The failing tables are
/// Postfix's <c>fail:backup</c> and <c>fail:domains</c>. One table for the table-level
/// vector tests (Memcache/VectorRig) and the server-level ones (Interop/VectorInteropRig).
/// </summary>
public static class SpecConfigurations
{
    public static readonly IReadOnlyDictionary<string, (string Name, string[] Lines)> All =
        new Dictionary<string, (string, string[])>
        {
            ["A"] = ("aliases", ["memcache = {mc}", "key_format = aliases:%s"]),
            ["B"] = ("backed", ["memcache = {mc}", "key_format = aliases:%s", "backup = {backup}", "ttl = 600", "flags = 7"]),
            ["C"] = ("plain", ["memcache = {mc}"]),
            ["D"] = ("dom", ["memcache = {mc}", "domain = example.com, example.net"]),
            ["D2"] = ("dombk", ["memcache = {mc}", "domain = example.com", "backup = {backup}"]),
            ["E"] = ("user", ["memcache = {mc}", "key_format = u:%u"]),
            ["F"] = ("domainpart", ["memcache = {mc}", "key_format = d:%d"]),
            ["G"] = ("parts", ["memcache = {mc}", "key_format = %2.%1"]),
            ["H"] = ("digest", ["memcache = {mc}", "key_format = aliases:%s", "key_digest = sha256"]),
            ["I"] = ("small", ["memcache = {mc}", "data_size_limit = 5", "backup = {backup}"]),
            ["I0"] = ("small0", ["memcache = {mc}", "data_size_limit = 5"]),
            ["J"] = ("retry3", ["memcache = {mc}", "max_try = 3", "retry_pause = 2"]),
            ["K"] = ("down", ["memcache = {down}", "key_format = aliases:%s"]),
            ["K2"] = ("downbk", ["memcache = {down}", "key_format = aliases:%s", "backup = {backup}"]),
            ["L"] = ("once", ["memcache = {mc}", "max_try = 1"]),
            ["M"] = ("lines", ["memcache = {mc}", "line_size_limit = 12"]),
            ["N"] = ("spacefmt", ["memcache = {mc}", "key_format = a %s"]),
            ["O"] = ("emptyfmt", ["memcache = {mc}", "key_format ="]),
            ["P"] = ("pct", ["memcache = {mc}", "key_format = %s%%"]),
            ["Q"] = ("negdom", ["memcache = {mc}", "domain = !example.com"]),
            ["R"] = ("exdom", ["memcache = {mc}", "domain = !bad.example.com, example.com"]),
            ["S"] = ("ttl60d", ["memcache = {mc}", "ttl = 5184000"]),
            ["T"] = ("bkerr", ["memcache = {mc}", "key_format = aliases:%s", "backup = fail:backup"]),
            ["U"] = ("domerr", ["memcache = {mc}", "domain = fail:domains, example.com"]),
            ["V"] = ("bkerrdown", ["memcache = {down}", "key_format = aliases:%s", "backup = fail:backup"]),
            ["W"] = ("negflags", ["memcache = {mc}", "flags = -1"]),
        };
}
