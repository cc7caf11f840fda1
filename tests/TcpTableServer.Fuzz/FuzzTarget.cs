using System.Runtime.CompilerServices;

namespace TcpTableServer.Fuzz;

/// <summary>
/// One codec under fuzz: a seed corpus of valid inputs (spec examples), tokens the mutator
/// may insert, and <see cref="Run"/>, which feeds one input and checks the codec's invariants.
/// A broken invariant throws <see cref="FuzzViolation"/>; any other exception escaping
/// <see cref="Run"/> is a crash too (the documented exceptions are caught and checked inside).
/// </summary>
public abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>Valid requests, replies or files the mutations start from.</summary>
    public abstract IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>Protocol tokens worth inserting whole (separators, keywords, escapes).</summary>
    public abstract IReadOnlyList<byte[]> Tokens { get; }

    /// <summary>Feeds <paramref name="input"/>; <paramref name="rng"/> picks limits and segment splits.</summary>
    public abstract void Run(byte[] input, Random rng);
}

/// <summary>An invariant of the codec did not hold for the input.</summary>
public sealed class FuzzViolation(string message) : Exception(message)
{
    public static void Check(bool condition, string what)
    {
        if (!condition) throw new FuzzViolation(what);
    }

    /// <summary>As above; the interpolated message is only formatted when the check fails (millions of calls).</summary>
    public static void Check(bool condition, [InterpolatedStringHandlerArgument(nameof(condition))] ref CheckMessage what)
    {
        if (!condition) throw new FuzzViolation(what.ToStringAndClear());
    }

    [InterpolatedStringHandler]
    public ref struct CheckMessage
    {
        private DefaultInterpolatedStringHandler _text;

        public CheckMessage(int literalLength, int formattedCount, bool condition, out bool format)
        {
            format = !condition;
            _text = format ? new DefaultInterpolatedStringHandler(literalLength, formattedCount) : default;
        }

        public void AppendLiteral(string s) => _text.AppendLiteral(s);
        public void AppendFormatted<T>(T value) => _text.AppendFormatted(value);
        public string ToStringAndClear() => _text.ToStringAndClear();
    }
}
