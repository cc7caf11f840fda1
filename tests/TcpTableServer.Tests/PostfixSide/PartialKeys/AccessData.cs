namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>
/// Generated access-table data and SMTP sessions for the access differential: entries of every
/// shape a check_*_access search can hit (full address with and without extension, domain,
/// parent domain, .parent domain, localpart@, IPv4 and IPv6 prefixes, host names), and sessions
/// whose client, HELO, sender and recipient hit or miss them at every step.
/// </summary>
internal static class AccessData
{
    public sealed record Session(string Name, string Address, string Helo, string Sender, string Recipient)
    {
        public override string ToString() => $"client {Name}[{Address}] helo {Helo} from <{Sender}> to <{Recipient}>";
    }

    private static readonly string[] Users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
    private static readonly string[] Extensions = ["", "+x", "+y", "+x+z"];
    private static readonly string[] Domains =
        ["ex0.test", "ex1.test", "a.ex1.test", "b.a.ex2.test", "ex3.test", "c.ex3.test", "ex4.test", "d.ex4.test", "e.d.ex5.test", "ex6.test", "mail.ex7.test", "other.org"];

    /// <summary>Left-hand sides of the table (lower case, as postmap folds them).</summary>
    public static readonly string[] Entries =
    [
        "u1+x@ex0.test", "u2@ex0.test", "u3@a.ex1.test", "u1@b.a.ex2.test",
        "ex3.test", "ex5.test", ".d.ex4.test", ".ex2.test", "org",
        "u4@", "u5+y@", "u6+x+z@ex6.test",
        "192.0.2", "198.51.100.7", "10", "203.0.113.64",
        "2001:db8:1", "2001:db8::5", "2001",
        "mail.ex7.test", "relay.ex8.test", "ex9.test", "unknown-host.test",
    ];

    private static readonly string[] Names = ["[UNAVAILABLE]", "relay.ex8.test", "smtp.relay.ex8.test", "host.ex9.test", "host.other.net", "mail.ex7.test", "x.test"];
    private static readonly string[] Addresses =
        ["192.0.2.1", "192.0.2.77", "198.51.100.7", "198.51.100.8", "10.1.2.3", "203.0.113.64", "203.0.113.65", "11.0.0.1",
         "2001:db8:1::1", "2001:db8::5", "2001:db8::6", "2002::1", "3fff::1"];
    private static readonly string[] Helos = ["helo.test", "mail.ex7.test", "a.mail.ex7.test", "host.ex9.test", "other.net"];

    public static IEnumerable<Session> Sessions(int count, int seed)
    {
        var random = new Random(seed);
        string Pick(string[] a) => a[random.Next(a.Length)];
        string Address() => random.Next(10) == 0 ? Pick(Users) + "@" + Pick(Domains).ToUpperInvariant()
            : Pick(Users) + Pick(Extensions) + "@" + Pick(Domains);
        for (int i = 0; i < count; i++)
        {
            // most sessions let the client and HELO checks pass, so sender and recipient are reached
            bool clientStage = random.Next(4) == 0;
            string name = clientStage ? Pick(Names) : "[UNAVAILABLE]";
            string address = clientStage ? Pick(Addresses) : "11.0.0." + random.Next(1, 250);
            string helo = random.Next(6) == 0 ? Pick(Helos) : "helo.test";
            string sender = random.Next(8) == 0 ? "" : random.Next(2) == 0 ? Address() : "s" + i + "@nowhere.test";
            yield return new Session(name, address, helo, sender, Address());
        }
    }
}
