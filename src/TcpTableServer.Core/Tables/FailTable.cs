namespace TcpTableServer.Tables;

/// <summary>
/// <c>fail:name</c> (Postfix dict_fail): every operation - lookup, update, delete,
/// sequence - fails with a temporary error (DICT_ERR_RETRY). The vectors' "backup table
/// that fails" and "table that fails" (spec 7.1).
/// </summary>
public sealed class FailTable(string name) : ITable
{
    public string Name { get; } = name;

    public ValueTask<LookupResult> LookupAsync(string key, CancellationToken ct = default) =>
        ValueTask.FromResult(LookupResult.TempError);

    public ValueTask<UpdateResult> UpdateAsync(string key, string value, CancellationToken ct = default) =>
        ValueTask.FromResult(UpdateResult.TempError);

    public ValueTask<UpdateResult> DeleteAsync(string key, CancellationToken ct = default) =>
        ValueTask.FromResult(UpdateResult.TempError);

    public ValueTask<SequenceResult> SequenceAsync(CancellationToken ct = default) =>
        ValueTask.FromResult(SequenceResult.TempError);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
