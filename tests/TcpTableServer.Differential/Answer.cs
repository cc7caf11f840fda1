namespace TcpTableServer.Differential;

/// <summary>What a Postfix client reported for one key (spec 3.12): a value, not found, or a lookup error.</summary>
public readonly record struct Answer(AnswerKind Kind, string? Value)
{
    public static readonly Answer NotFound = new(AnswerKind.NotFound, null);
    public static readonly Answer Error = new(AnswerKind.Error, null);
    public static Answer Found(string value) => new(AnswerKind.Found, value);

    public override string ToString() => Kind switch
    {
        AnswerKind.Found => "found \"" + Show.Octets(Value!) + "\"",
        AnswerKind.NotFound => "not found",
        _ => "ERROR",
    };
}

public enum AnswerKind { Found, NotFound, Error }

/// <summary>Printable forms of octet strings for the report.</summary>
public static class Show
{
    public static string Octets(string s, int max = 120)
    {
        var sb = new System.Text.StringBuilder();
        foreach (char c in s)
        {
            if (sb.Length >= max) { sb.Append("..."); break; }
            if (c is < ' ' or '\x7f' or > '\x7e' || c == '\\') sb.Append($"\\x{(int)c:x2}");
            else sb.Append(c);
        }
        return sb.ToString();
    }
}
