using TcpTableServer.Tests.Support;
using TcpTableServer.Config;

namespace TcpTableServer.Tests.Config;

/// <summary>The example configuration in config/ parses into the documented definition.</summary>
public class ShippedConfigTests
{
    [Test]
    public void ShippedTcptableIni_LoadsIntoExpectedDefinition()
    {
        string config = Support.Repo.Config;
        var log = new ListLogger();
        var def = ServerConfigLoader.Load(Path.Combine(config, "tcptable.ini"), log);

        Assert.That(def.SocketmapListeners, Is.EqualTo(new[] { new EndpointSpec(EndpointKind.Inet, "127.0.0.1", "9000", "") }));
        Assert.That(def.Options, Is.EqualTo(new ServerOptions(null, null, null, TimeSpan.FromSeconds(10))), "socketmap idle connections are never closed by default (Sendmail)");
        var map = def.Maps.Single();
        Assert.That(map.Name, Is.EqualTo("aliases"));
        Assert.That(map.BaseDirectory, Is.EqualTo(config));
        Assert.That(map.TcpListener, Is.EqualTo(new EndpointSpec(EndpointKind.Inet, "127.0.0.1", "9001", "")));
        Assert.That(map.AllowPut, Is.False);
        Assert.That(map.Parameters.ToDictionary(p => p.Key, p => p.Value.Value), Is.EqualTo(new Dictionary<string, string>
        {
            ["memcache"] = "inet:127.0.0.1:11211",
            ["key_format"] = "aliases:%s",
            ["backup"] = "texthash:aliases",
            ["ttl"] = "3600",
        }));
        Assert.That(map.Parameters.Values.Select(v => v.File).Distinct(), Is.EqualTo(new[] { Path.Combine(config, "aliases.cf") }));
        Assert.That(File.Exists(Path.Combine(map.BaseDirectory, "aliases")), "backup table source next to aliases.cf");
        Assert.That(log.Warnings, Is.Empty);
    }
}
