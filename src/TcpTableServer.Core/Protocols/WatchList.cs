namespace TcpTableServer.Protocols;

/// <summary>
/// An unordered list of <see cref="ReadWatch"/>es with O(1) add and remove: each watch keeps its
/// index in this list in a field of its own (<paramref name="slotOf"/>), and a removal moves
/// the last watch into the freed slot. Not thread-safe: each owner guards it with its lock.
/// Used by the <see cref="IdleSweeper"/> and by each <see cref="ListenerGate"/>.
/// </summary>
internal sealed class WatchList(WatchList.SlotOf slotOf)
{
    /// <summary>The watch's index field for this list (-1: not in it).</summary>
    public delegate ref int SlotOf(ReadWatch watch);

    private ReadWatch?[] _watches = new ReadWatch?[16];

    public int Count { get; private set; }

    public ReadWatch this[int index] => _watches[index]!;

    public void Add(ReadWatch watch)
    {
        if (Count == _watches.Length) Array.Resize(ref _watches, Count * 2);
        slotOf(watch) = Count;
        _watches[Count++] = watch;
    }

    public void Remove(ReadWatch watch)
    {
        ref int slot = ref slotOf(watch);
        if (slot < 0) return;
        ReadWatch last = _watches[--Count]!;
        _watches[slot] = last;
        slotOf(last) = slot;
        _watches[Count] = null;
        slot = -1;
    }
}
