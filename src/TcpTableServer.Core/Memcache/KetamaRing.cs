using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using TcpTableServer.Tables;

namespace TcpTableServer.Memcache;

/// <summary>
/// The ketama continuum of libmemcached's <c>MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED</c>
/// (pylibmc's <c>ketama_weighted</c>; libmemcached hosts.cc <c>update_continuum</c>, hash.cc
/// <c>dispatch_host</c>), so a key lives on the node libmemcached clients pick for it:
/// <list type="bullet">
/// <item>each node gets <c>floor(weight / total_weight * 160 / 4 * node_count + 1e-10) * 4</c>
/// points (single-precision arithmetic as in C; 160 with equal weights);</item>
/// <item>point name N (0, 1, ...; one per 4 points) is <c>host-N</c> for port 11211 and
/// <c>host:port-N</c> otherwise (a UNIX socket is its path with port 0); its MD5's 16 bytes
/// give 4 points, each 4 bytes read little-endian;</item>
/// <item>points sort by value, then by node position in the configured list;</item>
/// <item>a key's hash is the first 4 bytes of MD5(key) little-endian, and its node is that
/// of the first point at or after the hash, wrapping to the first point.</item>
/// </list>
/// The ring is immutable: the nodes of a map keep their keys for the map's whole life (an
/// unreachable node is skipped by <see cref="MemcacheNodeSet"/>, never taken out of the ring).
/// For <c>replicas</c> it also lists, per point, the next distinct nodes along the ring.
/// </summary>
public sealed class KetamaRing
{
    /// <summary>libmemcached's MEMCACHED_POINTS_PER_SERVER_KETAMA.</summary>
    public const int PointsPerServer = 160;

    /// <summary>libmemcached's MEMCACHED_DEFAULT_PORT: omitted from the point names.</summary>
    public const int DefaultPort = 11211;

    private readonly uint[] _values;
    private readonly int[] _owners;     // _replicas distinct nodes per point, first the point's own
    private readonly int _replicas;

    /// <summary>Nodes in configured order.</summary>
    public int NodeCount { get; }

    /// <summary>Distinct nodes listed per key (min of the asked replicas and the node count).</summary>
    public int Replicas => _replicas;

    /// <summary>Points on the continuum (for tests: 160 per node with equal weights).</summary>
    public int PointCount => _values.Length;

    /// <param name="nodes">each node's ketama name (host, or host:port, see <see cref="NodeName"/>) and weight (at least 1)</param>
    /// <param name="replicas">distinct nodes to list per key (1: the key's node only)</param>
    public KetamaRing(IReadOnlyList<(string Name, int Weight)> nodes, int replicas = 1)
    {
        if (nodes.Count == 0) throw new ArgumentException("a ring needs at least one node", nameof(nodes));
        NodeCount = nodes.Count;
        _replicas = Math.Clamp(replicas, 1, nodes.Count);
        long totalWeight = 0;
        foreach (var (_, w) in nodes)
        {
            if (w < 1) throw new ArgumentException("weights are at least 1", nameof(nodes));
            totalWeight += w;
        }
        var points = new List<(uint Value, int Node)>(nodes.Count * PointsPerServer);
        Span<byte> digest = stackalloc byte[16];
        for (int n = 0; n < nodes.Count; n++)
        {
            int pointsOfNode = PointsOf(nodes[n].Weight, totalWeight, nodes.Count);
            for (int i = 0; i < pointsOfNode / 4; i++)
            {
                MD5.HashData(Octets.ToBytes($"{nodes[n].Name}-{i}"), digest);
                for (int x = 0; x < 4; x++)
                    points.Add((BinaryPrimitives.ReadUInt32LittleEndian(digest[(x * 4)..]), n));
            }
        }
        // continuum_item_cmp: by value, then by node index
        points.Sort(static (a, b) => a.Value != b.Value ? a.Value.CompareTo(b.Value) : a.Node.CompareTo(b.Node));
        _values = [.. points.Select(p => p.Value)];
        _owners = new int[points.Count * _replicas];
        for (int p = 0; p < points.Count; p++)
        {
            int found = 0;
            for (int q = p; found < _replicas; q = (q + 1) % points.Count)
            {
                int node = points[q].Node;
                if (_owners.AsSpan(p * _replicas, found).Contains(node)) continue;
                _owners[p * _replicas + found++] = node;
            }
        }
    }

    /// <summary>
    /// Points of one node: libmemcached's <c>pointer_per_server</c> in weighted mode, computed
    /// in single precision as the C code does (<c>float pct</c>, float products).
    /// </summary>
    public static int PointsOf(int weight, long totalWeight, int liveServers)
    {
        float pct = (float)weight / (float)totalWeight;
        float perHashes = pct * PointsPerServer / 4 * (float)liveServers + 0.0000000001F;
        return (int)MathF.Floor(perHashes) * 4;
    }

    /// <summary>
    /// The name a node's points are derived from: <c>host</c> when the port is 11211, else
    /// <c>host:port</c> (libmemcached's <c>"%s-%u"</c> / <c>"%s:%u-%u"</c> without the index).
    /// The host is written as configured (an IPv6 address without brackets, as libmemcached
    /// keeps it); a UNIX socket is its path with port 0.
    /// </summary>
    public static string NodeName(string host, int port) => port == DefaultPort ? host : $"{host}:{port}";

    /// <summary>libmemcached's key hash in ketama_weighted mode: MD5, first 4 bytes little-endian.</summary>
    public static uint KeyHash(ReadOnlySpan<byte> key)
    {
        Span<byte> digest = stackalloc byte[16];
        MD5.HashData(key, digest);
        return BinaryPrimitives.ReadUInt32LittleEndian(digest);
    }

    /// <summary>The point a key (an octet string, as sent to memcached) maps to.</summary>
    public int PointOf(string key)
    {
        if (NodeCount == 1) return 0;   // libmemcached: one server, no hashing
        uint hash;
        if (key.Length <= 512)
        {
            Span<byte> bytes = stackalloc byte[key.Length];
            Octets.GetBytes(key, bytes);
            hash = KeyHash(bytes);
        }
        else
        {
            byte[] rented = ArrayPool<byte>.Shared.Rent(key.Length);
            int n = Octets.GetBytes(key, rented);
            hash = KeyHash(rented.AsSpan(0, n));
            ArrayPool<byte>.Shared.Return(rented);
        }
        return PointOf(hash);
    }

    /// <summary>dispatch_host: the first point whose value is at least the hash, else the first point.</summary>
    public int PointOf(uint hash)
    {
        int left = 0, right = _values.Length;
        while (left < right)
        {
            int middle = left + (right - left) / 2;
            if (_values[middle] < hash) left = middle + 1;
            else right = middle;
        }
        return right == _values.Length ? 0 : right;
    }

    /// <summary>The node (index in configured order) that holds a key: what libmemcached picks.</summary>
    public int NodeOf(string key) => _owners[PointOf(key) * _replicas];

    /// <summary>The i-th distinct node along the ring from point <paramref name="point"/> (i &lt; <see cref="Replicas"/>).</summary>
    public int Owner(int point, int i) => _owners[point * _replicas + i];
}
