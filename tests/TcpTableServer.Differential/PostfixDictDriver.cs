using System.Runtime.InteropServices;
using System.Text;

namespace TcpTableServer.Differential;

/// <summary>
/// A `mail_dict`-style driver for Postfix's own memcache: update and delete (spec 3.5, 3.6):
/// `postmap -i` refuses a memcache table ("does not support bulk-mode creation"), so this
/// child process loads Debian's Postfix libraries and calls the very functions postmap uses
/// (mail_conf_read, mail_dict_init, dict_open, dict_update, dict_delete). It reads
/// "u TAB key TAB value" / "d TAB key" lines (Latin-1 octets) on stdin and writes one status
/// per line, flushed at once: 0 SUCCESS, 1 FAIL, -1 ERROR (Postfix's DICT_STAT_*). A Postfix
/// fatal error ends the process; the statuses written so far stay valid.
/// Runs as `TcpTableServer.Differential --postfix-dict CONFIG_DIR TABLE`.
/// </summary>
public static class PostfixDictDriver
{
    private const string Util = "/usr/lib/postfix/libpostfix-util.so";
    private const string Global = "/usr/lib/postfix/libpostfix-global.so";
    private const int ORdwr = 2;
    private const int DictFlagLock = 1 << 6, DictFlagDupReplace = 1 << 7, DictFlagSyncUpdate = 1 << 8, DictFlagFoldFix = 1 << 14;
    /// <summary>As postmap: the UTF-8 layer is active when main.cf has smtputf8_enable = yes (spec 3.3).</summary>
    private const int DictFlagUtf8Request = 1 << 19;

    [DllImport(Global)] private static extern void mail_conf_read();
    [DllImport(Global)] private static extern void mail_dict_init();
    [DllImport(Util)] private static extern IntPtr dict_open(byte[] spec, int openFlags, int dictFlags);
    [DllImport(Util)] private static extern void dict_register(byte[] name, IntPtr dict);
    [DllImport(Util)] private static extern int dict_update(byte[] name, byte[] key, byte[] value);
    [DllImport(Util)] private static extern int dict_delete(byte[] name, byte[] key);

    [DllImport("libc", EntryPoint = "dlopen")] private static extern IntPtr DlOpen(string file, int mode);
    [DllImport("libc", EntryPoint = "setenv")] private static extern int SetEnv(string name, string value, int overwrite);
    private const int RtldNow = 2, RtldGlobal = 0x100;

    public static bool Available => File.Exists(Util) && File.Exists(Global);

    public static int Run(string configDir, string table)
    {
        // libpostfix-global needs libpostfix-util's symbols: load it first, globally
        foreach (var lib in new[] { Util, Global })
            if (DlOpen(lib, RtldNow | RtldGlobal) == IntPtr.Zero) throw new DllNotFoundException(lib);
        SetEnv("MAIL_CONFIG", configDir, 1); // the C library's environment (.NET keeps its own copy)
        mail_conf_read();
        mail_dict_init();
        var dict = dict_open(Z(table), ORdwr, DictFlagLock | DictFlagDupReplace | DictFlagSyncUpdate | DictFlagFoldFix | DictFlagUtf8Request);
        var name = Z("differential");
        dict_register(name, dict);
        using var stdin = new StreamReader(Console.OpenStandardInput(), Encoding.Latin1);
        using var stdout = new StreamWriter(Console.OpenStandardOutput(), Encoding.Latin1) { AutoFlush = true };
        foreach (var line in stdin.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries)) // LF only: keys may hold CR
        {
            var f = line.Split('\t');
            int r = f[0] == "u" ? dict_update(name, Z(f[1]), Z(f[2])) : dict_delete(name, Z(f[1]));
            stdout.Write($"{r}\n");
        }
        return 0;
    }

    private static byte[] Z(string s) => [.. Encoding.Latin1.GetBytes(s), 0];
}
