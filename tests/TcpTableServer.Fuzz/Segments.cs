using System.Buffers;

namespace TcpTableServer.Fuzz;

/// <summary>
/// The same bytes as a <see cref="ReadOnlySequence{T}"/> cut into segments at random points,
/// the way a socket's pipe may deliver them: one segment, a few, or one byte each.
/// </summary>
public static class Segments
{
    public static ReadOnlySequence<byte> Split(ReadOnlySpan<byte> data, Random rng)
    {
        int mode = rng.Next(10);
        if (data.IsEmpty || mode < 3) return new ReadOnlySequence<byte>(data.ToArray());
        var cuts = new SortedSet<int>();
        if (mode < 5 && data.Length <= 512)
        {
            for (int i = 1; i < data.Length; i++) cuts.Add(i);
        }
        else
        {
            int n = 1 + rng.Next(Math.Min(8, data.Length));
            for (int i = 0; i < n; i++) cuts.Add(rng.Next(data.Length + 1));
        }
        return Of(data, cuts);
    }

    /// <summary>
    /// The reads a connection might see for <paramref name="data"/>: the whole at once, a few
    /// random pieces, or single bytes (then only for short inputs).
    /// </summary>
    public static List<byte[]> Reads(byte[] data, Random rng)
    {
        int mode = rng.Next(10);
        if (data.Length == 0 || mode < 2) return [data];
        var reads = new List<byte[]>();
        if (mode < 4 && data.Length <= 256)
        {
            foreach (byte b in data) reads.Add([b]);
            return reads;
        }
        int at = 0;
        while (at < data.Length)
        {
            int n = 1 + rng.Next(Math.Max(1, data.Length / (1 + rng.Next(4))));
            n = Math.Min(n, data.Length - at);
            reads.Add(data[at..(at + n)]);
            at += n;
        }
        return reads;
    }

    /// <summary>Cuts <paramref name="data"/> before each index in <paramref name="cuts"/> (0 and Length give empty segments).</summary>
    public static ReadOnlySequence<byte> Of(ReadOnlySpan<byte> data, IEnumerable<int> cuts)
    {
        Segment? first = null, last = null;
        int start = 0;
        foreach (int cut in cuts.Append(data.Length))
        {
            var piece = data[start..cut].ToArray();
            last = last is null ? first = new Segment(piece, 0) : last.Append(piece);
            start = cut;
        }
        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>
    /// How many bytes a reader took off the front of <paramref name="before"/>, checking that
    /// <paramref name="after"/> is exactly the rest: same end, start that many bytes further.
    /// </summary>
    public static int Taken(in ReadOnlySequence<byte> before, in ReadOnlySequence<byte> after)
    {
        long taken = before.Length - after.Length;
        FuzzViolation.Check(taken >= 0, "the reader grew the buffer");
        FuzzViolation.Check(after.End.Equals(before.End) || after.IsEmpty && before.GetOffset(after.End) == before.GetOffset(before.End),
            "the buffer's end moved");
        FuzzViolation.Check(before.GetOffset(after.Start) - before.GetOffset(before.Start) == taken,
            "the buffer left is not the rest of the buffer given");
        return (int)taken;
    }

    /// <summary>Every byte its own segment (the worst case for a parser).</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(ReadOnlySpan<byte> data) =>
        data.IsEmpty ? ReadOnlySequence<byte>.Empty : Of(data, Enumerable.Range(1, data.Length - 1));

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
