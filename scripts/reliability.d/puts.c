/* puts: tcp_table(5) put stream for scripts/reliability (loopback only, bounded in time).
 *
 *   puts PORT RATE SECONDS CONNS PREFIX [ACKED_FILE]
 *
 * Sends "put PREFIXw-n value-PREFIXw-n" at RATE puts/s in total over CONNS connections to
 * 127.0.0.1:PORT, one request in flight per connection (as Postfix), for SECONDS, and prints
 *   puts sent=.. acked=.. errors=.. broken=.. rate=.. p50_ms=.. p99_ms=..
 * cpu_us_per_put=..
 * (the line scripts/reliability.d/puts.py prints; the scenarios parse it; cpu_us_per_put is this
 * process's user + system CPU divided by the puts sent). Connection w sends
 * its n-th put at start + w * interval / CONNS + n * interval (interval = CONNS / RATE), an
 * absolute schedule, so a late reply delays that connection's next put but not the rate of the
 * others. A "200 " reply counts as acked, any other reply as an error, a closed connection, a
 * failed send or no reply within 15 s as broken (that connection stops). With ACKED_FILE,
 * "key<TAB>value" of every acknowledged put is appended as its reply arrives.
 *
 * The C twin of puts.py: one thread in epoll, no allocation per put, so the generator's own CPU
 * is a few microseconds per put and the measurement is of the server, not of the generator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { LINE = 512, REPLY_TIMEOUT_S = 15 };

struct conn {
    int fd;
    long n;           /* index of the next put (or of the one in flight) */
    int in_flight;
    int done;         /* schedule finished or connection broken: no more puts */
    double sent_at;   /* monotonic seconds when the put in flight was sent */
    char key[LINE];   /* the key of the put in flight (for ACKED_FILE) */
    char reply[LINE]; /* reply bytes read so far (up to one line) */
    size_t have;
};

static long sent, acked, errors, broken;
static double *lat;
static size_t nlat, caplat;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void record_latency(double s)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 4096;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat) {
            perror("puts: realloc");
            exit(1);
        }
    }
    lat[nlat++] = s;
}

static int connect_one(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void finish(int ep, struct conn *c, int as_broken)
{
    if (as_broken)
        broken++;
    c->done = 1;
    c->in_flight = 0;
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* sends connection w's put n; a request line is far below the socket buffer, so a short send
 * only happens on a broken connection */
static void send_put(int ep, struct conn *c, int w, const char *prefix)
{
    char line[2 * LINE + 16];
    snprintf(c->key, sizeof c->key, "%s%d-%ld", prefix, w, c->n);
    int len = snprintf(line, sizeof line, "put %s value-%s\n", c->key, c->key);
    c->sent_at = now();
    c->have = 0;
    sent++;
    ssize_t r = send(c->fd, line, (size_t)len, MSG_NOSIGNAL);
    if (r != len) {
        record_latency(now() - c->sent_at);
        finish(ep, c, 1);
        return;
    }
    c->in_flight = 1;
}

/* reads the reply of connection c; on a complete line counts it and frees the connection */
static void on_readable(int ep, struct conn *c, FILE *acked_file)
{
    for (;;) {
        if (c->have == sizeof c->reply) { /* an over-long reply: count it as an error, drop it */
            c->have = 1;
            c->reply[0] = '?';
        }
        ssize_t r = recv(c->fd, c->reply + c->have, sizeof c->reply - c->have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0 || !c->in_flight) { /* closed, failed, or bytes nobody asked for */
            if (c->in_flight)
                record_latency(now() - c->sent_at);
            finish(ep, c, 1);
            return;
        }
        size_t old = c->have;
        c->have += (size_t)r;
        char *nl = memchr(c->reply + old, '\n', c->have - old);
        if (!nl)
            continue;
        record_latency(now() - c->sent_at);
        c->in_flight = 0;
        if (c->have >= 4 && memcmp(c->reply, "200 ", 4) == 0) {
            acked++;
            if (acked_file) {
                fprintf(acked_file, "%s\tvalue-%s\n", c->key, c->key);
                fflush(acked_file);
            }
        } else {
            errors++;
        }
        c->n++;
        if ((size_t)(nl - c->reply) + 1 != c->have) { /* bytes after the reply: not tcp_table */
            finish(ep, c, 1);
        }
        c->have = 0;
        return;
    }
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_ms(double q)
{
    if (nlat == 0)
        return 0;
    size_t i = (size_t)(q * (double)nlat);
    return lat[i < nlat ? i : nlat - 1] * 1000;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 7) {
        fprintf(stderr, "usage: puts PORT RATE SECONDS CONNS PREFIX [ACKED_FILE]\n");
        return 64;
    }
    int port = atoi(argv[1]), conns = atoi(argv[4]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    const char *prefix = argv[5];
    if (port <= 0 || port > 65535 || rate <= 0 || seconds <= 0 || conns <= 0 || strlen(prefix) > 200) {
        fprintf(stderr, "puts: bad arguments (PORT 1-65535, RATE > 0, SECONDS > 0, CONNS > 0, PREFIX up to 200 bytes)\n");
        return 64;
    }
    FILE *acked_file = NULL;
    if (argc == 7 && !(acked_file = fopen(argv[6], "a"))) {
        perror("puts: ACKED_FILE");
        return 66;
    }
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)conns, sizeof *cs);
    if (ep < 0 || !cs) {
        perror("puts: setup");
        return 1;
    }
    double start = now(), end = start + seconds, interval = conns / rate;
    for (int w = 0; w < conns; w++) {
        cs[w].fd = connect_one(port);
        if (cs[w].fd < 0) {
            broken++;
            cs[w].done = 1;
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)w};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[w].fd, &ev);
    }
    struct epoll_event evs[256];
    for (;;) {
        double t = now(), next = INFINITY;
        int active = 0;
        for (int w = 0; w < conns; w++) {
            struct conn *c = &cs[w];
            if (c->done)
                continue;
            if (c->in_flight) {
                active = 1;
                if (t - c->sent_at > REPLY_TIMEOUT_S) {
                    record_latency(t - c->sent_at);
                    finish(ep, c, 1);
                    continue;
                }
                double limit = c->sent_at + REPLY_TIMEOUT_S;
                if (limit < next)
                    next = limit;
                continue;
            }
            double due = start + w * interval / conns + (double)c->n * interval;
            if (due >= end) {
                finish(ep, c, 0);
                continue;
            }
            active = 1;
            if (due <= t)
                send_put(ep, c, w, prefix);
            else if (due < next)
                next = due;
        }
        if (!active)
            break;
        int timeout = 0;
        t = now();
        if (next > t)
            timeout = next == INFINITY ? 1000 : (int)ceil((next - t) * 1000);
        int k = epoll_wait(ep, evs, 256, timeout);
        if (k < 0 && errno != EINTR) {
            perror("puts: epoll_wait");
            return 1;
        }
        for (int i = 0; i < k; i++) {
            struct conn *c = &cs[evs[i].data.u32];
            if (!c->done)
                on_readable(ep, c, acked_file);
        }
    }
    double elapsed = now() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    qsort(lat, nlat, sizeof *lat, by_value);
    printf("puts sent=%ld acked=%ld errors=%ld broken=%ld rate=%.0f p50_ms=%.2f p99_ms=%.2f cpu_us_per_put=%.1f\n", sent,
           acked, errors, broken, sent / elapsed, quantile_ms(0.5), quantile_ms(0.99), sent ? cpu_us / (double)sent : 0);
    if (acked_file)
        fclose(acked_file);
    return 0;
}
