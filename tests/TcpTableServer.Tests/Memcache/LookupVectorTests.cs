using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TcpTableServer.Tables;
using TcpTableServer.Tests.Support;

namespace TcpTableServer.Tests.Memcache;

/// <summary>
/// Lookup vectors V01-V72 of spec 7.3 at the table level. Vectors without fault injection
/// run against both the fake (exact traffic) and the real memcached (cache contents).
/// </summary>
[Category("Vector")]
public class LookupVectorTests
{
    private static readonly LookupResult NotFound = LookupResult.NotFound;
    private static readonly LookupResult TempError = LookupResult.TempError;
    private static LookupResult Found(string v) => LookupResult.Found(v);

    private static readonly string LongKey = new string('u', 251) + "@example.com";

    private static void AssertPaused(VectorRig rig, double seconds)
    {
        Assert.That(rig.Elapsed.TotalSeconds, Is.GreaterThanOrEqualTo(seconds - 0.05), "retry_pause sleeps");
        Assert.That(rig.Elapsed.TotalSeconds, Is.LessThan(seconds + 0.9), "no extra pause");
    }

    private static void AssertNoPause(VectorRig rig) =>
        Assert.That(rig.Elapsed.TotalSeconds, Is.LessThan(0.9), "no retry_pause");

    [Test]
    public async Task V01_plain_cache_hit([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "alice@example.org");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("alice@example.org")));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
    }

    [Test]
    public async Task V02_cache_miss_no_backup([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("nobody@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic("get aliases:nobody@example.com\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task V03_mixed_case_key_is_folded_before_key_format([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "alice@example.org");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("User@Example.COM"), Is.EqualTo(Found("alice@example.org")));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
    }

    [Test]
    public async Task V04_default_key_format_is_the_folded_key([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("postmaster@example.net", "root", flags: 3);
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("Postmaster@Example.NET"), Is.EqualTo(Found("root")));
        rig.AssertTraffic("get postmaster@example.net\r\n");
    }

    [Test]
    public async Task V05_key_with_space_is_skipped_silently()
    {
        // Fake only: a real memcached cannot even store a key with a space.
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("aliases:john smith@example.com", "x");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("john smith@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task V06_key_with_percent([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:100%@example.com", "percent");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("100%@example.com"), Is.EqualTo(Found("percent")));
        rig.AssertTraffic("get aliases:100%@example.com\r\n");
    }

    [Test]
    public async Task V07_non_ascii_key_raw_bytes_ascii_only_folding([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:j\xc3\x96rg@example.com", "joerg");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("J\xc3\x96RG@example.com"), Is.EqualTo(Found("joerg")));
        rig.AssertTraffic("get aliases:j\xc3\x96rg@example.com\r\n");
    }

    [Test]
    public async Task V08_value_with_space_tab_percent([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "a b\t100%");
        var t = rig.Open("A");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("a b\t100%")));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
    }

    [Test]
    public async Task V09_value_with_crlf_inside([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k1", "line1\r\nline2");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k1"), Is.EqualTo(Found("line1\r\nline2")));
        rig.AssertTraffic("get k1\r\n");
    }

    [Test]
    public async Task V10_value_with_non_ascii_bytes([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k2", "caf\xc3\xa9");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k2"), Is.EqualTo(Found("caf\xc3\xa9")));
        rig.AssertTraffic("get k2\r\n");
    }

    [Test]
    public async Task V11_zero_length_value_is_found_empty([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k3", "");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k3"), Is.EqualTo(Found("")));
        rig.AssertTraffic("get k3\r\n");
    }

    [Test]
    public async Task V12_value_with_nul_is_truncated([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k4", "ab\0cd");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k4"), Is.EqualTo(Found("ab")));
        rig.AssertTraffic("get k4\r\n");
    }

    [Test]
    public async Task V13_value_of_exactly_data_size_limit_is_accepted([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k5", "12345");
        var t = rig.Open("I");
        Assert.That(await t.LookupAsync("k5"), Is.EqualTo(Found("12345")));
        rig.AssertTraffic("get k5\r\n");
        Assert.That(rig.Backup.Requests, Is.Empty);
    }

    [Test]
    public async Task V14_miss_backup_hit_refills_with_flags_and_ttl([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        await rig.Backup.UpdateAsync("user@example.com", "from-backup");
        rig.Backup.Requests.Clear();
        var t = rig.Open("B");
        Assert.That(await t.LookupAsync("User@Example.com"), Is.EqualTo(Found("from-backup")));
        rig.AssertTraffic("get aliases:user@example.com\r\nset aliases:user@example.com 7 600 11\r\nfrom-backup\r\n");
        Assert.That(rig.Backup.Requests, Is.EqualTo(new[] { "lookup user@example.com" }));
        Assert.That(rig.Item("aliases:user@example.com"), Is.EqualTo(("from-backup", 7)));
        if (backend == Backend.Real)
            Assert.That(rig.RemainingTtl("aliases:user@example.com"), Is.InRange(595, 600));
    }

    [Test]
    public async Task V15_miss_backup_miss_no_refill([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        await rig.Backup.UpdateAsync("other@example.com", "x");
        var t = rig.Open("B");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
        Assert.That(rig.Item("aliases:user@example.com"), Is.Null);
    }

    [Test]
    public async Task V16_hit_backup_not_consulted([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "from-cache", flags: 7);
        await rig.Backup.UpdateAsync("user@example.com", "from-backup");
        rig.Backup.Requests.Clear();
        var t = rig.Open("B");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("from-cache")));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
        Assert.That(rig.Backup.Requests, Is.Empty);
    }

    [Test]
    public async Task V17_memcached_down_no_backup_temp_error_without_pause()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("K");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(TempError));
        AssertNoPause(rig);
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { $"connect to {rig.Down}: Connection refused" }));
    }

    [Test]
    public async Task V18_memcached_down_backup_hit_found_refill_fails_too()
    {
        await using var rig = new VectorRig(Backend.Fake);
        await rig.Backup.UpdateAsync("user@example.com", "from-backup");
        var t = rig.Open("K2");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("from-backup")));
        AssertNoPause(rig);
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { $"connect to {rig.Down}: Connection refused", $"connect to {rig.Down}: Connection refused" }));
    }

    [Test]
    public async Task V19_memcached_down_backup_miss_is_not_found()
    {
        await using var rig = new VectorRig(Backend.Fake);
        await rig.Backup.UpdateAsync("other@example.com", "x");
        var t = rig.Open("K2");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(NotFound));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { $"connect to {rig.Down}: Connection refused" }));
    }

    [Test]
    public async Task V20_memcached_down_backup_error_is_error()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("V");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(TempError));
        Assert.That(rig.FailingBackup.Calls, Is.EqualTo(1));
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { $"connect to {rig.Down}: Connection refused" }));
    }

    [Test]
    public async Task V21_miss_backup_error_is_error([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("T");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(TempError));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
        Assert.That(rig.FailingBackup.Calls, Is.EqualTo(1));
    }

    [Test]
    public async Task V22_hit_with_broken_backup_backup_untouched([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("aliases:user@example.com", "from-cache");
        var t = rig.Open("T");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("from-cache")));
        rig.AssertTraffic("get aliases:user@example.com\r\n");
        Assert.That(rig.FailingBackup.Calls, Is.Zero);
    }

    [Test]
    public async Task V23_refill_value_longer_than_data_size_limit_is_returned_not_stored([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        await rig.Backup.UpdateAsync("k6", "0123456789");
        var t = rig.Open("I");
        Assert.That(await t.LookupAsync("k6"), Is.EqualTo(Found("0123456789")));
        rig.AssertTraffic("get k6\r\n");
        Assert.That(rig.Item("k6"), Is.Null);
        // Postfix: "data for key k6 is too long ..."; the key is left out of warnings (debug line)
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "database memcache:/etc/postfix/small.cf: data is too long (data_size_limit=5) -- not stored" }));
        Assert.That(rig.Logs.Entries, Has.Some.Matches<(LogLevel Level, string Message)>(
            e => e.Level == LogLevel.Debug && e.Message.Contains("\"k6\"")), "the key at debug level");
    }

    [Test]
    public async Task V24_key_skipped_by_domain_filter_is_not_looked_up_in_backup([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        await rig.Backup.UpdateAsync("user@other.org", "x");
        rig.Backup.Requests.Clear();
        var t = rig.Open("D2");
        Assert.That(await t.LookupAsync("user@other.org"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
        Assert.That(rig.Backup.Requests, Is.Empty);
    }

    [Test]
    public async Task V25_server_error_twice_temp_error_after_one_pause()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("SERVER_ERROR out of memory\r\n", "SERVER_ERROR out of memory\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "/etc/postfix/plain.cf: unexpected memcache server reply: SERVER_ERROR out of memory" }));
    }

    [Test]
    public async Task V26_server_error_once_then_success_on_new_connection()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("k", "v");
        rig.Fake.Inject("SERVER_ERROR busy\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(Found("v")));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty, "the first failure is silent");
    }

    /// <summary>
    /// V27's answer and warning. Postfix closes the connection after each failed attempt; here
    /// an <c>ERROR</c> line answering a get leaves memcached's reply stream in step (memcached
    /// 1.6.18, pipelined), so the retry and the refill use the same connection and the other
    /// requests on it are not disturbed.
    /// </summary>
    [Test]
    public async Task V27_garbage_twice_backup_hit_refill_on_the_same_connection()
    {
        await using var rig = new VectorRig(Backend.Fake);
        await rig.Backup.UpdateAsync("user@example.com", "from-backup");
        rig.Fake.Inject("ERROR\r\n", "ERROR\r\n");
        var t = rig.Open("B");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("from-backup")));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get aliases:user@example.com\r\nget aliases:user@example.com\r\n"
            + "set aliases:user@example.com 7 600 11\r\nfrom-backup\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/backed.cf: unexpected memcache server reply: ERROR" }));
        Assert.That(rig.Item("aliases:user@example.com"), Is.EqualTo(("from-backup", 7)));
    }

    [Test]
    public async Task V28_close_instead_of_reply_silent_retry()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("k", "v");
        rig.Fake.Inject(FakeMemcached.CloseConnection);
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(Found("v")));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task V29_oversized_cached_value_no_backup_is_error_after_two_attempts([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k7", "0123456789");
        var t = rig.Open("I0");
        Assert.That(await t.LookupAsync("k7"), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k7\r\n", "get k7\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/small0.cf: unexpected memcache server reply: VALUE [key] 0 10" }),
            "Postfix shows the VALUE line's key (k7); keys appear only at debug level");
    }

    [Test]
    public async Task V30_oversized_cached_value_backup_miss_is_not_found([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("k7", "0123456789");
        var t = rig.Open("I");
        Assert.That(await t.LookupAsync("k7"), Is.EqualTo(NotFound));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k7\r\n", "get k7\r\n");
        Assert.That(rig.Backup.Requests, Is.EqualTo(new[] { "lookup k7" }));
    }

    [Test]
    public async Task V31_value_not_followed_by_end_is_accepted_then_connection_closed()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE k 0 3\r\nabc\r\nXYZ\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(Found("abc")));
        AssertNoPause(rig);
        rig.AssertTraffic("get k\r\n");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(NotFound));
        rig.AssertTraffic("get k\r\n", "get k\r\n");
    }

    [Test]
    public async Task V32_value_line_with_cas_is_accepted_another_key_is_an_unexpected_reply()
    {
        // Postfix accepts any key (V32); a shared connection never trusts another key's block (spec 3.13 item 6)
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE other 5 3 99\r\nabc\r\nEND\r\n", "VALUE k 5 3 99\r\nabc\r\nEND\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(Found("abc")), "the retry's reply names k");
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty, "a first failure is silent (3.9)");
    }

    [Test]
    public async Task V33_data_block_with_bare_lf_is_io_error_twice()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE k 0 3\r\nabc\nEND\r\n", "VALUE k 0 3\r\nabc\nEND\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/plain.cf: EOF receiving memcache server reply" }));
    }

    [Test]
    public async Task V34_end_with_bare_lf_is_a_miss()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("END\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(NotFound));
        rig.AssertTraffic("get k\r\n");
    }

    [Test]
    public async Task V35_negative_length_is_unexpected_reply()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE k 0 -1\r\n", "VALUE k 0 -1\r\n");
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/plain.cf: unexpected memcache server reply: VALUE [key] 0 -1" }),
            "Postfix shows the VALUE line's key (k); keys appear only at debug level");
    }

    [Test]
    public async Task V36_reply_line_of_line_size_limit_minus_one_is_accepted()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE k 0 3\r\nabc\r\nEND\r\n");
        var t = rig.Open("M");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(Found("abc")));
        rig.AssertTraffic("get k\r\n");
    }

    [Test]
    public async Task V37_reply_line_of_line_size_limit_is_rejected()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("VALUE kk 0 3\r\nabc\r\nEND\r\n", "VALUE kk 0 3\r\nabc\r\nEND\r\n");
        var t = rig.Open("M");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic("get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "database memcache:/etc/postfix/lines.cf: I/O error" }));
    }

    [Test]
    public async Task V38_max_try_1_single_attempt_no_pause_no_warning()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("SERVER_ERROR x\r\n");
        var t = rig.Open("L");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertNoPause(rig);
        rig.AssertTraffic("get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task V39_max_try_3_retry_pause_2_three_attempts_4s()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Fake.Inject("X\r\n", "Y\r\n", "Z\r\n");
        var t = rig.Open("J");
        Assert.That(await t.LookupAsync("k"), Is.EqualTo(TempError));
        AssertPaused(rig, 4);
        rig.AssertTraffic("get k\r\n", "get k\r\n", "get k\r\n");
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
        {
            "/etc/postfix/retry3.cf: unexpected memcache server reply: Y",
            "/etc/postfix/retry3.cf: unexpected memcache server reply: Z",
        }));
    }

    /// <summary>
    /// V40: memcached answers a key over 250 bytes with <c>CLIENT_ERROR bad command line
    /// format</c>; Postfix retries once after retry_pause and answers a temporary error with its
    /// warning (real postmap 3.7.11 against memcached 1.6.18: the same). Here the key is never
    /// sent, so it cannot disturb the shared connection: its attempts fail as that reply would
    /// make them fail (same answer, pause and warning).
    /// </summary>
    [Test]
    public async Task V40_key_longer_than_250_client_error_temp_error([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        Assert.That(LongKey, Has.Length.EqualTo(263));
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync(LongKey), Is.EqualTo(TempError));
        AssertPaused(rig, 1);
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
            { "/etc/postfix/plain.cf: unexpected memcache server reply: CLIENT_ERROR bad command line " }));
    }

    /// <summary>
    /// V40 on a shared connection: a request with a 251-byte key while other requests are in
    /// flight on the same memcached connection. They get their values with no retry and no
    /// pause (before, memcached's CLIENT_ERROR closed the connection under the request queued
    /// behind it, which with max_try = 1 got a temporary error). The scripted memcached holds
    /// its replies so that the requests are in flight together, which the real one cannot be
    /// made to do; it answers a long key with CLIENT_ERROR as memcached 1.6 does.
    /// </summary>
    [Test]
    public async Task V40_long_key_fails_alone_requests_in_flight_beside_it_get_their_values()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("k2", "v2");
        rig.Seed("k3", "v3");
        string longKey = new('u', 251);
        var t = rig.Open("C", "max_try = 1");
        Assert.That(await t.LookupAsync("warm"), Is.EqualTo(NotFound), "one connection, open and idle");
        await Task.Delay(100);   // the reader back to waiting (see MemcachedPipelineTests)
        var clock = Stopwatch.StartNew();
        Task<LookupResult> bad, k2, k3;
        using (rig.Fake.HoldReplies())
        {
            bad = t.LookupAsync(longKey).AsTask();   // the fault guarded: sent on the idle connection
            await Task.Delay(100);
            k2 = t.LookupAsync("k2").AsTask();       // that one busy: a second connection
            await Task.Delay(100);
            k3 = t.LookupAsync("k3").AsTask();       // both busy: queued on the first, behind the long key
            await Task.Delay(100);
        }
        Assert.That(await k2, Is.EqualTo(Found("v2")));
        Assert.That(await k3, Is.EqualTo(Found("v3")));
        Assert.That(await bad, Is.EqualTo(TempError));
        Assert.That(clock.Elapsed.TotalSeconds, Is.LessThan(0.9), "no retry_pause for anyone");
        var sent = string.Concat(rig.Fake.Connections);
        Assert.That(sent, Does.Not.Contain(longKey), "the long key never reaches memcached");
        Assert.That(sent.Split("\r\n").Count(l => l.StartsWith("get ") && l.Contains("k3")), Is.EqualTo(1), "k3 sent once");
        Assert.That(rig.Logs.Warnings, Is.Empty, "max_try = 1: nothing logged (V38)");
    }

    /// <summary>
    /// V40 with a backup, as real postmap 3.7.11 answers it against memcached 1.6.18: the
    /// memcached error is forgotten, the backup's value returned, the refill fails the same way
    /// (warnings: unexpected reply, update failed), one retry_pause each; nothing is sent.
    /// </summary>
    [Test]
    public async Task V40_long_key_with_backup_answers_from_the_backup_refill_fails([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        string longKey = new('u', 251);
        await rig.Backup.UpdateAsync(longKey, "bk-value");
        var t = rig.Open("C", "backup = {backup}");
        Assert.That(await t.LookupAsync(longKey), Is.EqualTo(Found("bk-value")));
        AssertPaused(rig, 2);
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[]
        {
            "/etc/postfix/plain.cf: unexpected memcache server reply: CLIENT_ERROR bad command line ",
            "database memcache:/etc/postfix/plain.cf: update failed: CLIENT_ERROR bad command line format",
        }));
    }

    [Test]
    public async Task V41_long_key_with_key_digest_sha256_works([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("H");
        Assert.That(await t.LookupAsync(LongKey), Is.EqualTo(NotFound));
        rig.AssertTraffic("get 2a00ce37a113221180e0d233dd5ba1a317d68ddf9c78f3f5b73815c80727b335\r\n");
    }

    [Test]
    public async Task V42_percent_u_with_user_at_domain([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("u:user", "U");
        var t = rig.Open("E");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("U")));
        rig.AssertTraffic("get u:user\r\n");
    }

    [Test]
    public async Task V43_percent_u_with_empty_localpart_is_skipped([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        var t = rig.Open("E");
        Assert.That(await t.LookupAsync("@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V44_percent_u_with_empty_domain_uses_localpart([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("u:user", "U");
        var t = rig.Open("E");
        Assert.That(await t.LookupAsync("user@"), Is.EqualTo(Found("U")));
        rig.AssertTraffic("get u:user\r\n");
    }

    [Test]
    public async Task V45_percent_u_with_bare_user([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("u:user", "U");
        var t = rig.Open("E");
        Assert.That(await t.LookupAsync("User"), Is.EqualTo(Found("U")));
        rig.AssertTraffic("get u:user\r\n");
    }

    [Test]
    public async Task V46_percent_u_splits_at_last_at([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("u:user@a", "UA");
        var t = rig.Open("E");
        Assert.That(await t.LookupAsync("user@a@b.example"), Is.EqualTo(Found("UA")));
        rig.AssertTraffic("get u:user@a\r\n");
    }

    [Test]
    public async Task V47_percent_d_with_user_at_domain([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("d:mail.example.com", "D");
        var t = rig.Open("F");
        Assert.That(await t.LookupAsync("user@Mail.Example.com"), Is.EqualTo(Found("D")));
        rig.AssertTraffic("get d:mail.example.com\r\n");
    }

    [TestCase("user", TestName = "V48_percent_d_with_bare_user_is_skipped")]
    [TestCase("user@", TestName = "V49_percent_d_with_empty_domain_is_skipped")]
    public async Task V48_V49_percent_d_skips(string key)
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("F");
        Assert.That(await t.LookupAsync(key), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V50_percent_d_with_empty_localpart([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("d:example.com", "D");
        var t = rig.Open("F");
        Assert.That(await t.LookupAsync("@example.com"), Is.EqualTo(Found("D")));
        rig.AssertTraffic("get d:example.com\r\n");
    }

    [TestCase("user@mail.example.com", TestName = "V51_labels_2_1_with_three_labels")]
    [TestCase("user@example..com.", TestName = "V53_labels_2_1_ignore_empty_labels")]
    public async Task V51_V53_labels(string key)
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("example.com", "P");
        var t = rig.Open("G");
        Assert.That(await t.LookupAsync(key), Is.EqualTo(Found("P")));
        rig.AssertTraffic("get example.com\r\n");
    }

    [Test]
    public async Task V52_labels_2_1_with_one_label_is_skipped()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("G");
        Assert.That(await t.LookupAsync("user@localhost"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V54_key_format_with_space_skips_every_key()
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed("a user@example.com", "x");
        var t = rig.Open("N");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V55_key_format_appends_literal_percent([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("user@example.com%", "pct");
        var t = rig.Open("P");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("pct")));
        rig.AssertTraffic("get user@example.com%\r\n");
    }

    [Test]
    public async Task V56_empty_key_format_skips_every_key()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("O");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V57_key_digest_sha256_after_key_format([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("84c9f7cf39a563f46c0dcff0fe09018a080b1fe44686e335cdb866e6ba0d4c32", "hashed");
        var t = rig.Open("H");
        Assert.That(await t.LookupAsync("User@Example.com"), Is.EqualTo(Found("hashed")));
        rig.AssertTraffic("get 84c9f7cf39a563f46c0dcff0fe09018a080b1fe44686e335cdb866e6ba0d4c32\r\n");
    }

    [Test]
    public async Task V58_key_digest_makes_keys_with_spaces_legal()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("H");
        Assert.That(await t.LookupAsync("john smith@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic("get 5ba65a0a8efd657bad86b94eda3d60e4bb22ffa4eb2e5fe2490996418390ff18\r\n");
    }

    [TestCase("a\u0001b", TestName = "V59_key_with_control_character_is_skipped")]
    [TestCase("a\u007fb", TestName = "V60_key_with_DEL_is_skipped")]
    [TestCase("", TestName = "V61_empty_key_is_skipped")]
    public async Task V59_V60_V61_skipped_keys(string key)
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("C");
        Assert.That(await t.LookupAsync(key), Is.EqualTo(NotFound));
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }

    [Test]
    public async Task V62_domain_filter_listed_domain([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("user@example.net", "ok");
        var t = rig.Open("D");
        Assert.That(await t.LookupAsync("user@Example.NET"), Is.EqualTo(Found("ok")));
        rig.AssertTraffic("get user@example.net\r\n");
    }

    [TestCase("user@sub.example.com", TestName = "V63_domain_filter_subdomain_not_matched")]
    [TestCase("@example.com", TestName = "V64_domain_filter_empty_localpart_skipped")]
    [TestCase("user", TestName = "V65_domain_filter_bare_user_skipped")]
    [TestCase("user@", TestName = "V66_domain_filter_user_at_skipped")]
    public async Task V63_to_V66_domain_filter_skips(string key)
    {
        await using var rig = new VectorRig(Backend.Fake);
        rig.Seed(key, "x");
        var t = rig.Open("D");
        Assert.That(await t.LookupAsync(key), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V67_domain_filter_last_at_decides([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("a@b@example.com", "ok");
        var t = rig.Open("D");
        Assert.That(await t.LookupAsync("a@b@example.com"), Is.EqualTo(Found("ok")));
        rig.AssertTraffic("get a@b@example.com\r\n");
    }

    [Test]
    public async Task V68_domain_list_with_only_a_negation_matches_nothing()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("Q");
        Assert.That(await t.LookupAsync("user@other.org"), Is.EqualTo(NotFound));
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V69_negation_excludes_that_exact_domain()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("R");
        Assert.That(await t.LookupAsync("user@bad.example.com"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
    }

    [Test]
    public async Task V70_negation_other_listed_domain_still_matches([Values] Backend backend)
    {
        await using var rig = new VectorRig(backend);
        rig.Seed("user@example.com", "ok");
        var t = rig.Open("R");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(Found("ok")));
        rig.AssertTraffic("get user@example.com\r\n");
    }

    [Test]
    public async Task V71_domain_list_table_error_temp_error_no_traffic()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("U");
        Assert.That(await t.LookupAsync("user@example.com"), Is.EqualTo(TempError));
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.EqualTo(new[] { "/etc/postfix/domerr.cf: fail:domains: table lookup problem" }));
    }

    [Test]
    public async Task V72_domain_list_error_not_reached_without_at()
    {
        await using var rig = new VectorRig(Backend.Fake);
        var t = rig.Open("U");
        Assert.That(await t.LookupAsync("user"), Is.EqualTo(NotFound));
        rig.AssertTraffic();
        Assert.That(rig.Logs.Warnings, Is.Empty);
    }
}
