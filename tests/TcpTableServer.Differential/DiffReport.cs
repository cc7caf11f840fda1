namespace TcpTableServer.Differential;

/// <summary>Counts and differences of a differential run; <see cref="Differences"/> counts only unexplained ones.</summary>
public sealed class DiffReport
{
    private readonly List<string> _differences = [];
    private readonly List<string> _expectedSamples = [];

    public int Keys { get; set; }
    /// <summary>smtputf8_enable of both sides in this run.</summary>
    public bool Smtputf8 { get; set; }
    public List<string> Configurations { get; } = [];
    public SortedDictionary<string, int> Expected { get; } = new(StringComparer.Ordinal);
    public int Differences => _differences.Count;
    public IReadOnlyList<string> DifferenceLines => _differences;
    public int ExpectedCount => Expected.Values.Sum();

    /// <summary>Postfix-side answers: values from seeded cache items, values written back from the backup, misses, errors.</summary>
    public int CacheHits { get; set; }
    public int BackupHits { get; set; }
    public int Misses { get; set; }
    public int Errors { get; set; }
    public int OtherHits { get; set; }
    public int WriteBacks { get; set; }
    public int AnswersCompared { get; set; }
    public int CacheItemsCompared { get; set; }
    public int BackupEntriesCompared { get; set; }
    public int Updates { get; set; }
    public int Deletes { get; set; }
    public List<string> Notes { get; } = [];
    public string? WorkDir { get; set; }
    public int Show { get; set; } = 50;

    public void Difference(string text) => _differences.Add(text);

    public void Expect(string clause, string text)
    {
        Expected[clause] = Expected.GetValueOrDefault(clause) + 1;
        if (_expectedSamples.Count < 10) _expectedSamples.Add(text);
    }

    public void Print(TextWriter w)
    {
        foreach (var n in Notes) w.WriteLine($"note: {n}");
        foreach (var d in _differences.Take(Show)) w.WriteLine($"DIFFERENCE {d}");
        if (_differences.Count > Show) w.WriteLine($"... {_differences.Count - Show} more differences");
        foreach (var (clause, n) in Expected) w.WriteLine($"expected ({clause}): {n}");
        foreach (var s in _expectedSamples) w.WriteLine($"  e.g. {s}");
        w.WriteLine($"configurations: {string.Join(", ", Configurations)}");
        w.WriteLine($"answers compared: {AnswersCompared} (postfix side: {CacheHits} cache hits, {BackupHits} backup hits, " +
                    $"{OtherHits} other hits, {Misses} misses, {Errors} errors; {WriteBacks} write-backs)");
        w.WriteLine($"cache items compared: {CacheItemsCompared}; backup entries compared: {BackupEntriesCompared}; updates: {Updates}; deletes: {Deletes}");
        if (WorkDir is not null) w.WriteLine($"work directory kept: {WorkDir}");
        w.WriteLine($"smtputf8_enable = {(Smtputf8 ? "yes" : "no")}: {Keys} keys x {Configurations.Count} configurations x 2 protocols: {Differences} differences" +
                    (ExpectedCount > 0 ? $" ({ExpectedCount} expected, spec 8.2)" : ""));
    }
}
