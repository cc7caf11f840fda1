namespace TcpTableServer.Tests.PostfixSide.PartialKeys;

/// <summary>Generated recipient addresses for the partial-key differentials: users with and without extensions, domains at several depths.</summary>
internal static class AddressData
{
    private static readonly string[] Users = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "postmaster"];
    private static readonly string[] Extensions = ["", "+x", "+y", "+x+z", "+"];
    private static readonly string[] Domains =
        ["ex0.test", "ex1.test", "a.ex1.test", "b.a.ex2.test", "ex2.test", "ex3.test", "c.ex3.test", "ex4.test", "d.ex4.test",
         "e.d.ex4.test", "ex5.test", "f.ex5.test", "ex6.test", "mail.ex7.test", "x.mail.ex7.test", "other.org", "host.example.net"];

    public static IEnumerable<string> Generate(int count, int seed)
    {
        var random = new Random(seed);
        string Pick(string[] a) => a[random.Next(a.Length)];
        for (int i = 0; i < count; i++)
        {
            string address = Pick(Users) + Pick(Extensions) + "@" + Pick(Domains);
            yield return random.Next(10) == 0 ? address.ToUpperInvariant() : address;
        }
    }
}
