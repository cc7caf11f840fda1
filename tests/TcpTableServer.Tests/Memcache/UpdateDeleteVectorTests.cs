using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;

namespace TcpTableServer.Tests.Memcache;

/// <summary>Update, delete and sequence vectors V73-V81 of spec 7.3 (sections 3.5-3.7).</summary>
[Category("Vector")]
public class UpdateDeleteVectorTests
{
    [Test]
    public async Task V73_ttl_over_30_days_is_passed_verbatim_item_expires_at_once([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("S");
        Assert.That(await t.UpdateAsync("k8", "v"), Is.EqualTo(UpdateResult.Success));
        Assert.That(await t.LookupAsync("k8"), Is.EqualTo(LookupResult.NotFound));
        rig.AssertTraffic("set k8 0 5184000 1\r\nv\r\nget k8\r\n");
    }

    [Test]
    public async Task V74_update_without_backup_sets_folded_key_with_flags_and_ttl([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("A");
        Assert.That(await t.UpdateAsync("User@Example.com", "alice"), Is.EqualTo(UpdateResult.Success));
        rig.AssertTraffic("set aliases:user@example.com 0 3600 5\r\nalice\r\n");
        Assert.That(rig.Item("aliases:user@example.com"), Is.EqualTo(("alice", 0)));
        if (backend == Backend.Real)
            Assert.That(rig.RemainingTtl("aliases:user@example.com"), Is.InRange(3595, 3600));
    }

    [Test]
    public async Task V75_update_not_stored_twice_no_backup_is_error()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("NOT_STORED\r\n", "NOT_STORED\r\n");
        var t = rig.Open("C");
        Assert.That(await t.UpdateAsync("k", "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95));
        // NOT_STORED leaves the reply stream in step: the retry uses the same connection (Postfix: a new one)
        rig.AssertTraffic("set k 0 3600 1\r\nv\r\nset k 0 3600 1\r\nv\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "database memcache:/etc/postfix/plain.cf: update failed: NOT_STORED" }));
    }

    [Test]
    public async Task V76_update_not_stored_twice_backup_ok_is_success()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("NOT_STORED\r\n", "NOT_STORED\r\n");
        var t = rig.Open("B");
        Assert.That(await t.UpdateAsync("user@example.com", "v"), Is.EqualTo(UpdateResult.Success));
        Assert.That(rig.Elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95));
        rig.AssertTraffic("set aliases:user@example.com 7 600 1\r\nv\r\nset aliases:user@example.com 7 600 1\r\nv\r\n");
        Assert.That(rig.Backup.Entries, Is.EqualTo(new Dictionary<string, string> { ["user@example.com"] = "v" }));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "database memcache:/etc/postfix/backed.cf: update failed: NOT_STORED" }));
    }

    [Test]
    public async Task V77_update_of_key_rejected_by_domain_filter_fails_backup_untouched()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("D2");
        Assert.That(await t.UpdateAsync("user@other.org", "v"), Is.EqualTo(UpdateResult.Fail));
        var sequence = await t.SequenceAsync();
        Assert.That(sequence.Status, Is.EqualTo(UpdateStatus.Success));
        Assert.That(sequence.Entries, Is.Empty);
        rig.AssertTraffic();
        // Postfix: skipping update for name "user@other.org": ...; the key is left out of warnings
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/dombk.cf: skipping update: domain mismatch" }));
        Assert.That(rig.Logs.Entries, Has.Some.Matches<(LogLevel Level, string Message)>(
            e => e.Level == LogLevel.Debug && e.Message.Contains("\"user@other.org\"")), "the key at debug level");
    }

    [Test]
    public async Task V78_update_value_over_data_size_limit_skips_memcache_backup_updated()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("I");
        Assert.That(await t.UpdateAsync("k", "123456"), Is.EqualTo(UpdateResult.Success));
        rig.AssertTraffic();
        Assert.That(rig.Backup.Entries, Is.EqualTo(new Dictionary<string, string> { ["k"] = "123456" }));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "database memcache:/etc/postfix/small.cf: data is too long (data_size_limit=5) -- not stored" }),
            "Postfix names the key (data for key k is too long); keys appear only at debug level");
    }

    [Test]
    public async Task V78_without_backup_value_over_data_size_limit_is_fail()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("I0");
        Assert.That(await t.UpdateAsync("k", "123456"), Is.EqualTo(UpdateResult.Fail));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V79_delete_existing_then_missing([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "alice");
        var t = rig.Open("A");
        Assert.That(await t.DeleteAsync("USER@example.com"), Is.EqualTo(UpdateResult.Success));
        Assert.That(rig.Item("aliases:user@example.com"), Is.Null);
        Assert.That(await t.DeleteAsync("user@example.com"), Is.EqualTo(UpdateResult.Fail));
        rig.AssertTraffic("delete aliases:user@example.com\r\ndelete aliases:user@example.com\r\n");
    }

    [Test]
    public async Task V80_delete_with_memcached_down_no_backup_is_error()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("K");
        Assert.That(await t.DeleteAsync("user@example.com"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.LessThan(0.9));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { $"connect to {rig.Down}: Connection refused" }));
    }

    /// <summary>
    /// V81: memcached answers negative flags with CLIENT_ERROR and then reads the data block as
    /// a command of its own (memcached 1.6.18: <c>CLIENT_ERROR ...</c> then <c>ERROR</c>), which
    /// would desynchronise a shared connection. The set is never sent; its attempts fail as
    /// that reply would make them fail (same answer, pause and warning as Postfix).
    /// </summary>
    [Test]
    public async Task V81_update_with_negative_flags_client_error_twice_is_error([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("W");
        Assert.That(await t.UpdateAsync("k", "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(0.95));
        rig.AssertTraffic();
        Assert.That(rig.Item("k"), Is.Null);
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "database memcache:/etc/postfix/negflags.cf: update failed: CLIENT_ERROR bad command line format" }));
    }

    /// <summary>
    /// V40 for delete, as real <c>postmap -d</c> (3.7.11) answers a 251-byte key against memcached
    /// 1.6.18: a temporary error after one retry_pause with "delete failed: CLIENT_ERROR ...";
    /// here without sending the key.
    /// </summary>
    [Test]
    public async Task V40_delete_of_key_longer_than_250_is_error_without_traffic([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("C");
        Assert.That(await t.DeleteAsync(new string('u', 251)), Is.EqualTo(UpdateResult.TempError));
        Assert.That(rig.Elapsed.TotalSeconds, Is.InRange(0.95, 1.9));
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "database memcache:/etc/postfix/plain.cf: delete failed: CLIENT_ERROR bad command line " }));
    }

    [Test]
    public async Task Section3_6_delete_with_backup_backup_result_replaces_memcache_result()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("aliases:user@example.com", "x");
        await rig.Backup.UpdateAsync("other@example.com", "y");
        rig.Backup.Requests.Clear();
        var t = rig.Open("B");
        Assert.That(await t.DeleteAsync("User@example.com"), Is.EqualTo(UpdateResult.Fail), "backup has no such key");
        Assert.That(rig.Item("aliases:user@example.com"), Is.Null, "memcached item deleted first");
        Assert.That(rig.Backup.Requests, Is.EqualTo(new[] { "delete user@example.com" }), "backup gets the folded key");
    }

    [Test]
    public async Task Section3_6_delete_skipped_key_is_fail_silently()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("D2");
        Assert.That(await t.DeleteAsync("user@other.org"), Is.EqualTo(UpdateResult.Fail));
        rig.AssertTraffic();
        Assert.That(rig.Backup.Requests, Is.Empty);
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task Section3_5_domain_list_error_on_update_and_delete_is_error()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("U");
        Assert.That(await t.UpdateAsync("user@example.com", "v"), Is.EqualTo(UpdateResult.TempError));
        Assert.That(await t.DeleteAsync("user@example.com"), Is.EqualTo(UpdateResult.TempError));
        rig.AssertTraffic();
    }

    [Test]
    public async Task Section3_7_sequence_without_backup_warns_and_fails()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("C");
        Assert.That((await t.SequenceAsync()).Status, Is.EqualTo(UpdateStatus.Fail));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/plain.cf: first/next support requires backup database" }));
    }

    [Test]
    public async Task Section3_7_sequence_is_delegated_to_backup()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("B");
        Assert.That(await t.UpdateAsync("A@example.com", "1"), Is.EqualTo(UpdateResult.Success));
        var s = await t.SequenceAsync();
        Assert.That(s.Entries, Is.EqualTo(new[] { KeyValuePair.Create("a@example.com", "1") }));
    }
}
