/* floor: the least a lookup server through memcached can do, as a yardstick for scripts/bench.
 *
 *   floor PORT MEMCACHED_PORT MODE      MODE: block | poll
 *
 * Serves tcp_table(5) `get KEY\n` on 127.0.0.1:PORT, one client connection at a time, by
 * sending `get KEY\r\n` to memcached on 127.0.0.1:MEMCACHED_PORT over one persistent
 * connection and answering `200 VALUE\n` or `500 not found\n`. No configuration, no key
 * decoding, no logging, no event loop: one thread in blocking system calls (block), or the
 * same with the memcached reply busy-polled (poll: non-blocking recv in a loop, so the thread
 * never sleeps while memcached works; it spins a core). The 1-connection p50 of this program
 * against direct memcached's is the floor for the target "p50 through memcached <=
 * 1.8 x direct": two round trips, each with its wake-ups, and nothing else.
 * Not a server: no limits beyond buffer sizes, exits on any memcached error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 8192 };
static int busy_poll;

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) {
        perror("floor: socket");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

static void send_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* client gone: its next recv ends the connection */
        b += w;
        n -= (size_t)w;
    }
}

/* appends memcached bytes to buf; exits on EOF or error (a yardstick, not a server) */
static size_t mc_read(int mc, char *buf, size_t have)
{
    for (;;) {
        ssize_t r = recv(mc, buf + have, BUF - have, busy_poll ? MSG_DONTWAIT : 0);
        if (r > 0)
            return have + (size_t)r;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        fprintf(stderr, "floor: memcached connection lost\n");
        exit(1);
    }
}

/* one memcached get; writes the tcp_table reply into out, returns its length */
static int lookup(int mc, const char *key, size_t klen, char *out)
{
    char cmd[BUF], in[BUF];
    if (klen + 7 > sizeof cmd)
        return snprintf(out, BUF, "500 key too long\n");
    int n = snprintf(cmd, sizeof cmd, "get %.*s\r\n", (int)klen, key);
    send_all(mc, cmd, (size_t)n);
    size_t have = 0;
    char *eol;
    while (!(eol = memmem(in, have, "\r\n", 2)))
        have = mc_read(mc, in, have);
    if (strncmp(in, "END\r\n", 5) == 0)
        return snprintf(out, BUF, "500 not found\n");
    unsigned long len = 0;
    char *sp = memrchr(in, ' ', (size_t)(eol - in));
    if (strncmp(in, "VALUE ", 6) != 0 || !sp || (len = strtoul(sp + 1, NULL, 10)) > BUF - 64) {
        fprintf(stderr, "floor: unexpected memcached reply\n");
        exit(1);
    }
    size_t need = (size_t)(eol + 2 - in) + len + 2 + 5; /* data CR LF, then END CR LF */
    while (have < need)
        have = mc_read(mc, in, have);
    return snprintf(out, BUF, "200 %.*s\n", (int)len, eol + 2);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "block") != 0 && strcmp(argv[3], "poll") != 0)) {
        fprintf(stderr, "usage: floor PORT MEMCACHED_PORT block|poll\n");
        return 2;
    }
    busy_poll = strcmp(argv[3], "poll") == 0;
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(atoi(argv[1])), m = loopback(atoi(argv[2]));
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 64) < 0) {
        perror("floor: listen");
        return 1;
    }
    int mc = tcp_socket();
    if (connect(mc, (struct sockaddr *)&m, sizeof m) < 0) {
        perror("floor: connect to memcached");
        return 1;
    }
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char in[BUF], out[BUF];
        size_t have = 0;
        for (;;) {
            ssize_t r = recv(c, in + have, sizeof in - have, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            have += (size_t)r;
            char *nl;
            while ((nl = memchr(in, '\n', have))) {
                size_t line = (size_t)(nl - in);
                int n = line > 4 && memcmp(in, "get ", 4) == 0
                            ? lookup(mc, in + 4, line - 4, out)
                            : snprintf(out, sizeof out, "500 unsupported\n");
                send_all(c, out, (size_t)n);
                memmove(in, nl + 1, have - line - 1);
                have -= line + 1;
            }
            if (have == sizeof in)
                break; /* a line longer than the buffer: drop the client */
        }
        close(c);
    }
}
