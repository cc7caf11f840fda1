namespace TcpTableServer.Host;

/// <summary>Process exit codes: postmap -q's 0/1, and sysexits.h for errors.</summary>
public static class ExitCodes
{
    public const int Found = 0;          // also: success, server stopped cleanly
    public const int NotFound = 1;       // like postmap -q; "not updated" / "not deleted" too
    public const int Usage = 64;         // EX_USAGE
    public const int DataErr = 65;       // EX_DATAERR: a bad line in a file to load
    public const int NoInput = 66;       // EX_NOINPUT: a file to load cannot be read
    public const int Unavailable = 69;   // EX_UNAVAILABLE: a listener could not be opened
    public const int TempFail = 75;      // EX_TEMPFAIL: DICT_ERR_RETRY
    public const int Config = 78;        // EX_CONFIG: bad configuration or DICT_ERR_CONFIG
}
