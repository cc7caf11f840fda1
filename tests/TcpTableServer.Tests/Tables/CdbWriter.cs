using System.Buffers.Binary;
using TcpTableServer.Tables.Cdb;

namespace TcpTableServer.Tests.Tables;

/// <summary>
/// Writes a cdb file with exact key and value bytes (octet strings), for the records
/// <c>postmap cdb:</c> cannot write from a source file: an empty value, keys and values with
/// a trailing NUL (another writer's style), a corrupt file. Everything else in the tests is
/// written by Postfix's own postmap.
/// </summary>
internal static class CdbWriter
{
    public static void Write(string path, IEnumerable<(string Key, string Value)> records)
    {
        using var body = new MemoryStream();
        var slots = new List<(uint Hash, uint Pos)>[256];
        for (int i = 0; i < 256; i++) slots[i] = [];
        body.Write(new byte[CdbFile.HeaderSize]);
        Span<byte> lengths = stackalloc byte[8];
        foreach (var (key, value) in records)
        {
            byte[] k = Latin1(key), v = Latin1(value);
            uint h = CdbFile.Hash(k);
            slots[h & 255].Add((h, (uint)body.Position));
            BinaryPrimitives.WriteUInt32LittleEndian(lengths, (uint)k.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(lengths[4..], (uint)v.Length);
            body.Write(lengths);
            body.Write(k);
            body.Write(v);
        }
        var header = new byte[CdbFile.HeaderSize];
        for (int t = 0; t < 256; t++)
        {
            uint count = (uint)slots[t].Count * 2;
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(t * 8), (uint)body.Position);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(t * 8 + 4), count);
            var table = new (uint Hash, uint Pos)[count];
            foreach (var (h, pos) in slots[t])
            {
                uint s = (h >> 8) % count;
                while (table[s].Pos != 0) s = (s + 1) % count;
                table[s] = (h, pos);
            }
            foreach (var (h, pos) in table)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(lengths, h);
                BinaryPrimitives.WriteUInt32LittleEndian(lengths[4..], pos);
                body.Write(lengths);
            }
        }
        body.Position = 0;
        body.Write(header);
        File.WriteAllBytes(path, body.ToArray());
    }

    private static byte[] Latin1(string s) => System.Text.Encoding.Latin1.GetBytes(s);
}
