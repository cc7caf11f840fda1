using TcpTableServer.Fuzz.Targets;

namespace TcpTableServer.Fuzz;

/// <summary>Every fuzz target, by name.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new NetstringTarget(),
        new TcpLineTarget(),
        new HexQuoteTarget(),
        new MemcachedReplyTarget(),
        new CfFileTarget(),
        new IniFileTarget(),
    ];

    public static FuzzTarget? Find(string name) =>
        All.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase));
}
