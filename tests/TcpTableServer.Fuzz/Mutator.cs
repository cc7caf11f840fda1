using System.Text;

namespace TcpTableServer.Fuzz;

/// <summary>
/// Coverage-less mutations of a seed corpus: bit flips, byte set/insert/delete, duplicated
/// ranges, splices of two seeds, tampered length fields (huge, negative, leading zeros, off by
/// one), protocol tokens, byte runs, repetition (pipelining) and truncation. One to eight
/// stacked mutations per input, every choice from the caller's <see cref="Random"/>.
/// </summary>
public sealed class Mutator(IReadOnlyList<byte[]> seeds, IReadOnlyList<byte[]> tokens, int maxLength = 16 * 1024)
{
    private static readonly byte[] Interesting =
        [0, (byte)'\r', (byte)'\n', (byte)' ', (byte)'\t', (byte)':', (byte)',', (byte)'%', (byte)'0', (byte)'9',
         (byte)'=', (byte)'#', (byte)'-', (byte)'+', 0x7F, 0x80, 0xFF, (byte)'\v', (byte)'\f', (byte)'"', (byte)'['];

    private static readonly string[] Numbers =
        ["0", "1", "-1", "+1", "-0", "00", "2147483645", "2147483646", "2147483647", "2147483648", "-2147483649", "4294967296",
         "9223372036854775807", "9223372036854775808", "-9223372036854775808", "99999999999999999999999",
         "1048576", "1048577", "100000", "10240", "10241", "1024", "4096", "65536", "1e3", "0x10", " 5", "5 "];

    public byte[] Next(Random rng)
    {
        var data = new List<byte>(seeds[rng.Next(seeds.Count)]);
        if (rng.Next(32) == 0) return [.. data];
        int count = 1 + rng.Next(rng.Next(2) == 0 ? 2 : 8);
        for (int i = 0; i < count; i++) Mutate(data, rng);
        if (data.Count > maxLength) data.RemoveRange(maxLength, data.Count - maxLength);
        return [.. data];
    }

    private void Mutate(List<byte> d, Random rng)
    {
        switch (rng.Next(13))
        {
            case 0 when d.Count > 0:
                d[rng.Next(d.Count)] ^= (byte)(1 << rng.Next(8));
                break;
            case 1 when d.Count > 0:
                d[rng.Next(d.Count)] = RandomByte(rng);
                break;
            case 2:
                d.Insert(rng.Next(d.Count + 1), RandomByte(rng));
                break;
            case 3 when d.Count > 0:
            {
                int at = rng.Next(d.Count);
                d.RemoveRange(at, 1 + rng.Next(Math.Min(d.Count - at, rng.Next(2) == 0 ? 4 : 64)));
                break;
            }
            case 4 when d.Count > 0:
            {
                int at = rng.Next(d.Count), n = 1 + rng.Next(Math.Min(d.Count - at, 128));
                d.InsertRange(rng.Next(d.Count + 1), d.GetRange(at, n));
                break;
            }
            case 5:
            {
                byte[] other = seeds[rng.Next(seeds.Count)];
                int keep = rng.Next(d.Count + 1), from = rng.Next(other.Length + 1);
                d.RemoveRange(keep, d.Count - keep);
                d.AddRange(other.AsSpan(from).ToArray());
                break;
            }
            case 6:
            case 7:
                TamperNumber(d, rng);
                break;
            case 8 when tokens.Count > 0:
                d.InsertRange(rng.Next(d.Count + 1), tokens[rng.Next(tokens.Count)]);
                break;
            case 9:
            {
                byte b = rng.Next(3) == 0 ? RandomByte(rng) : Interesting[rng.Next(Interesting.Length)];
                int n = rng.Next(4) == 0 ? rng.Next(5000) : 1 + rng.Next(40);
                d.InsertRange(rng.Next(d.Count + 1), Enumerable.Repeat(b, n));
                break;
            }
            case 10:
                d.AddRange(rng.Next(2) == 0 ? [.. d] : seeds[rng.Next(seeds.Count)]);
                break;
            case 11 when d.Count > 0:
            {
                int at = rng.Next(d.Count);
                d.RemoveRange(at, d.Count - at);
                break;
            }
            case 12 when d.Count > 1:
            {
                int a = rng.Next(d.Count), b = rng.Next(d.Count);
                (d[a], d[b]) = (d[b], d[a]);
                break;
            }
            default:
                d.Insert(rng.Next(d.Count + 1), Interesting[rng.Next(Interesting.Length)]);
                break;
        }
    }

    /// <summary>Replaces a run of digits (a length, a flags or ttl field) by another number, or inserts one.</summary>
    private static void TamperNumber(List<byte> d, Random rng)
    {
        var runs = new List<(int Start, int Length)>();
        for (int i = 0; i < d.Count;)
        {
            if (d[i] is >= (byte)'0' and <= (byte)'9')
            {
                int s = i;
                while (i < d.Count && d[i] is >= (byte)'0' and <= (byte)'9') i++;
                runs.Add((s, i - s));
            }
            else i++;
        }
        string number;
        int pick = rng.Next(6);
        (int start, int length) = runs.Count == 0 ? (rng.Next(d.Count + 1), 0) : runs[rng.Next(runs.Count)];
        string old = Encoding.ASCII.GetString([.. d.GetRange(start, length)]);
        if (pick == 0 && length > 0 && length < 18)
            number = (long.Parse(old) + rng.Next(-2, 3)).ToString();
        else if (pick == 1)
            number = new string('0', 1 + (rng.Next(4) == 0 ? rng.Next(3000) : rng.Next(30))) + (length > 0 ? old : "5");
        else if (pick == 2)
        {
            string digits = rng.NextInt64(long.MaxValue).ToString();
            number = digits[..(1 + rng.Next(digits.Length))];
        }
        else
            number = Numbers[rng.Next(Numbers.Length)];
        d.RemoveRange(start, length);
        d.InsertRange(start, Encoding.ASCII.GetBytes(number));
    }

    private static byte RandomByte(Random rng) =>
        rng.Next(2) == 0 ? Interesting[rng.Next(Interesting.Length)] : (byte)rng.Next(256);
}
