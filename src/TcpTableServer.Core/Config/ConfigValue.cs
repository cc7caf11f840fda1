namespace TcpTableServer.Config;

/// <summary>One configuration parameter with the place it was read from.</summary>
public sealed record ConfigValue(string Name, string Value, string File, int Line)
{
    public override string ToString() => $"{File}:{Line}: {Name} = {Value}";
}
