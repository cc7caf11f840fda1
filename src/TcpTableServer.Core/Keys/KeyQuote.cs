using System.Text;

namespace TcpTableServer.Keys;

/// <summary>
/// Appends <paramref name="piece"/>, a part of the lookup key substituted into a template
/// (%s, %u, %d, %1..%9), to <paramref name="into"/> quoted for the backend the expansion is
/// for, as the quote function of Postfix's db_common_expand() does for SQL queries. The
/// literal text of the template is never passed here. memcache keys use no quoting.
/// </summary>
public delegate void KeyQuote(ReadOnlySpan<char> piece, StringBuilder into);
