/* openloop: an open-loop TCP load generator (one thread, epoll, timerfd pacing).
 *
 *   openloop --port P --frames FILE --rate R [--host 127.0.0.1] [--requests N | --seconds S]
 *            [--poisson] [--seed N] [--warmup N] [--max-open 2048] [--mode new|persistent]
 *            [--conns C] [--drain 10] [--timerfd] [--framing okms|rpc] [--setup FILE] [--expect-len N]
 *            [--resp-byte OFF=VAL]... [--echo OFF:LEN] [--lat-out FILE]
 *
 * Adapted from ../shared/tools/loadgen.c (closed loop), with the same frames file, framing
 * rules and response checks:
 *   okms: total length = 8 + uint32 big-endian at offset 4      (OpenKMS frame header)
 *   rpc:  total length = uint16 little-endian at offset 8        (DCE/RPC frag_length)
 * Request i (0-based) uses frame i % nframes. A response is valid when its length equals
 * --expect-len (if given), every --resp-byte OFF=VAL holds, and bytes [OFF, OFF+LEN) of --echo
 * equal those of the request frame. --setup FILE: frames sent first on every connection (each
 * followed by one response), as loadgen does.
 *
 * Open loop. Request i is DUE at start + i/R (--poisson: start + the sum of i exponential gaps
 * of mean 1/R, from a fixed --seed, so two runs offer the same arrivals). N is --requests, or
 * R * --seconds. Its latency is (its response read) - (its due time), never from when it was
 * sent: a server that falls behind, or a request that waits for a free slot, is charged for
 * the wait (no coordinated omission).
 *
 * --mode new (default): each request opens a NEW TCP connection at its due time, whatever is
 *   still outstanding, sends its frame, reads the whole response and closes. At most
 *   --max-open connections are open at once; a request due while all of them are open is a
 *   LATE START: it is counted once (late_starts), waits in order and is started as soon as a
 *   connection closes, its latency still counted from its due time.
 * --mode persistent: --conns C connections, opened before the start (not timed); request i
 *   goes on connection i % C, one at a time; a request due while its connection still waits
 *   for the previous answer is a late start, sent as soon as that answer is read. A failed
 *   connection is reopened for its next request.
 *
 * Pacing: the thread sleeps in epoll_pwait2 until the next due time at most (a nanosecond
 * timeout, rounded up; timer slack 1 us), never spins. --timerfd (or a kernel without
 * epoll_pwait2) uses a timerfd set to the next due time instead (absolute, CLOCK_MONOTONIC). start_lag = time a request was
 * started - its due time; starts_over_1ms counts those more than 1 ms late (whatever the cause:
 * the cap, a busy connection or the generator itself).
 *
 * The first --warmup requests are sent and checked but left out of the latency figures.
 * After the last due time the generator waits --drain seconds at most for what is still
 * outstanding; each request then unanswered is an error ("no response ...").
 * Connection refused or reset, a short or invalid response: an error, counted with the first
 * error's text, never a crash. Memory: two doubles per request plus a receive buffer per open
 * connection (grown to the response's length, at most 64 KiB + 16).
 *
 * Prints one JSON object: mode, offered_rate, achieved_rate (completed / seconds), requests,
 * warmup, completed, measured, errors, first_error, late_starts, starts_over_1ms,
 * start_lag_max_ms, max_open_seen, p50/p90/p99/p999/max (ms, measured requests), gen_cpu_s
 * (user+sys of this process), seconds (start to the last response or the end of the drain).
 * --lat-out FILE: one little-endian double per request in request order, its latency in
 * seconds (warm-up included), NaN for a request that failed. Exit status 1 when errors > 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_RESPONSE (65536 + 16)
#define MAX_REQUESTS 20000000L  /* 16 bytes each: 320 MB at most */

typedef struct { const uint8_t *p; size_t n; } frame_t;

static int framing_okms = 1;
static size_t frame_len(const uint8_t *b, size_t have) {
    /* 0: not enough bytes yet to know */
    if (framing_okms) {
        if (have < 8) return 0;
        return 8 + ((size_t)b[4] << 24 | (size_t)b[5] << 16 | (size_t)b[6] << 8 | b[7]);
    }
    if (have < 10) return 0;
    return (size_t)b[8] | (size_t)b[9] << 8;
}

static frame_t *split(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || st.st_size == 0) { fprintf(stderr, "empty %s\n", path); exit(2); }
    uint8_t *buf = malloc(st.st_size + 1);
    if (!buf || fread(buf, 1, st.st_size, f) != (size_t)st.st_size) { perror("read"); exit(2); }
    fclose(f);
    size_t cap = 1024, n = 0, off = 0;
    frame_t *fr = malloc(cap * sizeof *fr);
    while (off < (size_t)st.st_size) {
        size_t len = frame_len(buf + off, st.st_size - off);
        if (len == 0 || off + len > (size_t)st.st_size) { fprintf(stderr, "bad frame at %zu in %s\n", off, path); exit(2); }
        if (n == cap) fr = realloc(fr, (cap *= 2) * sizeof *fr);
        fr[n].p = buf + off; fr[n].n = len; n++; off += len;
    }
    *count = n;
    return fr;
}

static double now(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* splitmix64: a fixed, portable sequence for the Poisson gaps */
static uint64_t rng_state = 1;
static double uniform01(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((z >> 11) + 0.5) * (1.0 / 9007199254740992.0); /* in (0, 1) */
}

enum { ST_IDLE, ST_CONNECTING, ST_SENDING, ST_READING };

typedef struct {
    int fd, state, step;       /* step < nsetup: setup frame; == nsetup: the request */
    long req;                  /* index of the current request, -1 when none */
    long next_k;               /* persistent: how many requests this connection has taken */
    const uint8_t *out; size_t out_n, out_off;
    uint8_t *in; size_t in_n, in_cap;
} conn_t;

static struct sockaddr_in addr;
static int ep, tfd, mode_new = 1, use_pwait2 = 1;
static frame_t *frames, *setup; static size_t nframes, nsetup;
static long total = 0, completed = 0, errors = 0, late_starts = 0, over_1ms = 0;
static long open_now = 0, open_max = 0;
static double *due, *lat, lag_max = 0;
static char first_error[256];
static long expect_len = -1;
static int nchecks = 0; static long check_off[16]; static int check_val[16];
static long echo_off = -1, echo_len = 0;
static conn_t *cs; static long nconns;
static long *free_slots; static long nfree;  /* new mode: slots without a connection */

static const frame_t *request_frame(long i) { return &frames[i % (long)nframes]; }

static void note_error(const char *why, int err) {
    errors++;
    if (!first_error[0]) {
        if (err) snprintf(first_error, sizeof first_error, "%s (errno %d %s)", why, err, strerror(err));
        else snprintf(first_error, sizeof first_error, "%s", why);
    }
}

static void close_conn(conn_t *c) {
    if (c->fd >= 0) { close(c->fd); c->fd = -1; open_now--; }
    c->state = ST_IDLE;
}

static void release(conn_t *c) {
    /* new mode: the slot goes back to the pool */
    close_conn(c);
    c->req = -1;
    if (mode_new) free_slots[nfree++] = c - cs;
}

static void fail(conn_t *c, const char *why, int err) {
    note_error(why, err);
    close_conn(c);
    c->req = -1;
    if (mode_new) free_slots[nfree++] = c - cs;
}

static void arm(conn_t *c, uint32_t events) {
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) perror("epoll_ctl mod");
}

static void begin_send(conn_t *c) {
    const frame_t *f = c->step < (int)nsetup ? &setup[c->step] : request_frame(c->req);
    c->out = f->p; c->out_n = f->n; c->out_off = 0; c->in_n = 0;
    c->state = ST_SENDING;
    ssize_t w = send(c->fd, c->out, c->out_n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) { fail(c, "send", errno); return; }
    if (w > 0) c->out_off = w;
    if (c->out_off == c->out_n) { c->state = ST_READING; arm(c, EPOLLIN); }
    else arm(c, EPOLLOUT);
}

static void start_connect(conn_t *c) {
    c->step = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { fail(c, "socket", errno); return; }
    if (++open_now > open_max) open_max = open_now;
    /* one write per connection in new mode, which Nagle's algorithm does not delay */
    int one = 1;
    if (!mode_new) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (r < 0 && errno != EINPROGRESS) { fail(c, "connect", errno); return; }
    /* On loopback the handshake is usually over when connect returns: try the first frame
     * at once (a socket still connecting refuses it with EAGAIN) and wait for EPOLLOUT only
     * when it did not go: two system calls and a wake-up fewer per connection. */
    const frame_t *f = nsetup ? &setup[0] : request_frame(c->req);
    ssize_t w = send(c->fd, f->p, f->n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN && errno != ENOTCONN) { fail(c, "connect/send", errno); return; }
    c->out = f->p; c->out_n = f->n; c->out_off = w > 0 ? (size_t)w : 0; c->in_n = 0;
    if (w > 0) c->state = c->out_off == c->out_n ? ST_READING : ST_SENDING;
    uint32_t want = c->state == ST_READING ? EPOLLIN : EPOLLOUT;
    struct epoll_event ev = { .events = want, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) { fail(c, "epoll_ctl add", errno); return; }
}

/* persistent: a connection opened before the clock starts, its setup frames not yet sent */
static void open_only(conn_t *c) {
    c->step = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return;  /* retried by its first request */
    if (++open_now > open_max) open_max = open_now;
    int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = ST_CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    if ((r < 0 && errno != EINPROGRESS) || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) close_conn(c);
}

/* Start request i on c (new mode: on a new connection). */
static void start_request(conn_t *c, long i, double t) {
    double lag = t - due[i];
    if (lag > lag_max) lag_max = lag;
    if (lag > 1e-3) over_1ms++;
    c->req = i;
    if (c->fd < 0) { start_connect(c); return; }
    c->step = (int)nsetup;
    begin_send(c);
}

static int valid(conn_t *c, size_t len) {
    const frame_t *req = request_frame(c->req);
    if (expect_len >= 0 && (long)len != expect_len) return 0;
    for (int i = 0; i < nchecks; i++)
        if ((size_t)check_off[i] >= len || c->in[check_off[i]] != check_val[i]) return 0;
    if (echo_off >= 0) {
        if ((size_t)(echo_off + echo_len) > len || (size_t)(echo_off + echo_len) > req->n) return 0;
        if (memcmp(c->in + echo_off, req->p + echo_off, echo_len)) return 0;
    }
    return 1;
}

/* Read what is there; returns the complete response's length, 0 if incomplete, -1 on failure. */
static long receive(conn_t *c) {
    for (;;) {
        if (c->in_n == c->in_cap) {
            if (c->in_cap >= MAX_RESPONSE) { fail(c, "response too long", 0); return -1; }
            c->in_cap = c->in_cap ? c->in_cap * 4 : 1024;
            if (c->in_cap > MAX_RESPONSE) c->in_cap = MAX_RESPONSE;
            c->in = realloc(c->in, c->in_cap);
            if (!c->in) { fprintf(stderr, "out of memory\n"); exit(3); }
        }
        ssize_t r = recv(c->fd, c->in + c->in_n, c->in_cap - c->in_n, 0);
        if (r < 0) {
            if (errno == EAGAIN) break;
            fail(c, "recv", errno); return -1;
        }
        if (r == 0) { fail(c, "closed by peer before a whole response", 0); return -1; }
        c->in_n += r;
        size_t len = frame_len(c->in, c->in_n);
        if (len > MAX_RESPONSE) { fail(c, "response too long", 0); return -1; }
        if (len && c->in_n >= len) break;
    }
    size_t len = frame_len(c->in, c->in_n);
    if (len == 0 || c->in_n < len) return 0;
    if (c->in_n > len) { fail(c, "extra bytes after response", 0); return -1; }
    return (long)len;
}

static void on_event(conn_t *c, uint32_t events) {
    if (c->fd < 0) return;
    if (c->state == ST_IDLE) {
        /* persistent, between requests: the server closed it, or sent what nobody asked for */
        uint8_t junk[256];
        ssize_t r = recv(c->fd, junk, sizeof junk, 0);
        if (r < 0 && errno == EAGAIN) return;
        if (r > 0) note_error("bytes from the server between requests", 0);
        close_conn(c);  /* reopened for its next request */
        return;
    }
    if (c->state == ST_CONNECTING) {
        int err = 0; socklen_t sl = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
        if (err) { fail(c, "connect", err); return; }
        if (!(events & EPOLLOUT)) { fail(c, "connect: hang-up", 0); return; }
        begin_send(c);
    } else if (c->state == ST_SENDING) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_n - c->out_off, MSG_NOSIGNAL);
        if (w < 0) { if (errno != EAGAIN) fail(c, "send", errno); return; }
        c->out_off += w;
        if (c->out_off == c->out_n) { c->state = ST_READING; arm(c, EPOLLIN); }
    } else if (c->state == ST_READING) {
        long len = receive(c);
        if (len <= 0) return;
        if (c->step < (int)nsetup) {
            if (!framing_okms && (c->in[2] == 3 || c->in[2] == 13)) { fail(c, "setup rejected", 0); return; }
            c->step++;
            if (c->step == (int)nsetup && c->req < 0) { c->state = ST_IDLE; arm(c, EPOLLIN); return; }
            begin_send(c);
            return;
        }
        if (!valid(c, len)) {
            char why[128];
            snprintf(why, sizeof why, "invalid response: len %ld type byte %u", len, c->in[framing_okms ? 3 : 2]);
            fail(c, why, 0);
            return;
        }
        lat[c->req] = now() - due[c->req];
        completed++;
        if (mode_new) release(c);
        else { c->req = -1; c->state = ST_IDLE; }
    }
}

static void set_timer(double at) {
    struct itimerspec its = { 0 };
    its.it_value.tv_sec = (time_t)at;
    its.it_value.tv_nsec = (long)ceil((at - (double)(time_t)at) * 1e9);  /* never before `at` */
    if (its.it_value.tv_nsec >= 1000000000L) { its.it_value.tv_sec++; its.it_value.tv_nsec -= 1000000000L; }
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) perror("timerfd_settime");
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

static void usage(void) {
    fprintf(stderr, "usage: openloop --port P --frames FILE --rate R [--requests N | --seconds S] "
                    "[--poisson] [--seed N] [--warmup N] [--max-open N] [--mode new|persistent] "
                    "[--conns C] [--drain S] [--timerfd] [--host A] [--framing okms|rpc] [--setup FILE] "
                    "[--expect-len N] [--resp-byte OFF=VAL]... [--echo OFF:LEN] [--lat-out FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *frames_path = NULL, *setup_path = NULL, *lat_out = NULL;
    int port = 0, poisson = 0;
    long warmup = 0, max_open = 2048, conns = 64;
    double rate = 0, seconds = 0, drain = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--poisson")) { poisson = 1; continue; }
        if (!strcmp(a, "--timerfd")) { use_pwait2 = 0; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--requests")) total = atol(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--seed")) rng_state = strtoull(v, NULL, 0);
        else if (!strcmp(a, "--warmup")) warmup = atol(v);
        else if (!strcmp(a, "--max-open")) max_open = atol(v);
        else if (!strcmp(a, "--conns")) conns = atol(v);
        else if (!strcmp(a, "--drain")) drain = atof(v);
        else if (!strcmp(a, "--frames")) frames_path = v;
        else if (!strcmp(a, "--setup")) setup_path = v;
        else if (!strcmp(a, "--framing")) framing_okms = !strcmp(v, "okms");
        else if (!strcmp(a, "--mode")) mode_new = !strcmp(v, "new");
        else if (!strcmp(a, "--expect-len")) expect_len = atol(v);
        else if (!strcmp(a, "--resp-byte") && nchecks < 16) {
            if (sscanf(v, "%ld=%i", &check_off[nchecks], &check_val[nchecks]) != 2) usage();
            nchecks++;
        }
        else if (!strcmp(a, "--echo")) { if (sscanf(v, "%ld:%ld", &echo_off, &echo_len) != 2) usage(); }
        else if (!strcmp(a, "--lat-out")) lat_out = v;
        else { fprintf(stderr, "unknown option %s\n", a); usage(); }
    }
    if (!total && seconds > 0) total = (long)(rate * seconds + 0.5);
    if (port <= 0 || port > 65535 || !frames_path || !(rate > 0) || total <= 0 || total > MAX_REQUESTS
        || warmup < 0 || warmup >= total || max_open < 1 || conns < 1 || drain < 0) usage();
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host %s\n", host); return 2; }
    addr.sin_family = AF_INET; addr.sin_port = htons(port);
    frames = split(frames_path, &nframes);
    if (setup_path) setup = split(setup_path, &nsetup);
    nconns = mode_new ? max_open : conns;

    /* room for every connection's descriptor */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
        if ((rlim_t)nconns + 64 > rl.rlim_cur) {
            nconns = (long)rl.rlim_cur - 64;
            if (mode_new) max_open = nconns;
            fprintf(stderr, "openloop: descriptor limit %ld: at most %ld connections\n", (long)rl.rlim_cur, nconns);
            if (nconns < 1) return 2;
        }
    }
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    due = malloc(sizeof(double) * total);
    lat = malloc(sizeof(double) * total);
    cs = calloc(nconns, sizeof *cs);
    free_slots = malloc(sizeof(long) * nconns);
    if (!due || !lat || !cs || !free_slots) { fprintf(stderr, "out of memory\n"); return 3; }
    for (long i = 0; i < nconns; i++) { cs[i].fd = -1; cs[i].req = -1; }
    if (mode_new) for (long i = nconns - 1; i >= 0; i--) free_slots[nfree++] = i;
    ep = epoll_create1(EPOLL_CLOEXEC);
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep < 0 || tfd < 0) { perror("epoll/timerfd"); return 3; }
    struct epoll_event tev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);
    enum { NEVENTS = 256 };
    struct epoll_event evs[NEVENTS];

    struct rusage ru0; getrusage(RUSAGE_SELF, &ru0);
    if (!mode_new) {
        /* persistent: open the connections (and their setup exchanges) before the clock starts */
        for (long k = 0; k < nconns; k++) { cs[k].req = -2; open_only(&cs[k]); }
        double limit = now() + 10;
        for (;;) {
            long ready = 0;
            for (long k = 0; k < nconns; k++) ready += cs[k].fd < 0 || cs[k].state == ST_READING || cs[k].state == ST_IDLE;
            if (ready == nconns || now() > limit) break;
            int n = epoll_wait(ep, evs, NEVENTS, 100);
            for (int k = 0; k < n; k++) {
                conn_t *c = evs[k].data.ptr;
                if (!c || c->state != ST_CONNECTING) continue;
                int err = 0; socklen_t sl = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
                if (err) { errno = err; close_conn(c); continue; }  /* retried by its first request */
                if (nsetup) begin_send(c); else { c->state = ST_IDLE; arm(c, EPOLLIN); }
            }
        }
        /* setup exchanges still in flight are finished by the main loop; idle ones wait */
        for (long k = 0; k < nconns; k++) if (cs[k].req == -2) cs[k].req = -1;
    }

    double t0 = now() + 0.001, gap_sum = 0;
    for (long i = 0; i < total; i++) {
        due[i] = t0 + (poisson ? gap_sum : (double)i / rate);
        if (poisson) gap_sum += -log(uniform01()) / rate;
        lat[i] = NAN;
    }
    long arrived = 0, started = 0, late_marked = 0;
    double last_due = due[total - 1], end = 0;
    long timer_for = -1;  /* the request the timer is set for; -1: not set (or it fired) */
    for (;;) {
        double t = now();
        while (arrived < total && due[arrived] <= t) arrived++;
        if (mode_new) {
            while (started < arrived && nfree > 0) start_request(&cs[free_slots[--nfree]], started++, now());
            if (started < arrived && late_marked < arrived) {
                late_starts += arrived - (late_marked > started ? late_marked : started);
                late_marked = arrived;
            }
        } else {
            /* request i belongs to connection i % C, which takes its requests in order */
            for (; late_marked < arrived; late_marked++) {
                conn_t *c = &cs[late_marked % nconns];
                if (c->req != -1 || c->state != ST_IDLE || c->next_k * nconns + late_marked % nconns != late_marked) late_starts++;
            }
            for (long k = 0; k < nconns; k++) {
                conn_t *c = &cs[k];
                long i = c->next_k * nconns + k;
                if (c->req == -1 && (c->state == ST_IDLE) && i < arrived) { c->next_k++; start_request(c, i, now()); }
            }
            started = 0;
            for (long k = 0; k < nconns; k++) started += cs[k].next_k;
        }
        long outstanding = mode_new ? nconns - nfree : 0;
        if (!mode_new) for (long k = 0; k < nconns; k++) outstanding += cs[k].req >= 0;
        if (arrived == total && started == total && outstanding == 0) { end = now(); break; }
        if (t > last_due + drain) {
            for (long k = 0; k < nconns; k++) if (cs[k].req >= 0) { note_error("no response before the end of --drain", 0); close_conn(&cs[k]); cs[k].req = -1; }
            errors += total - started;  /* never started (connections all stuck) */
            if (total > started && !first_error[0]) snprintf(first_error, sizeof first_error, "not started before the end of --drain");
            end = now();
            break;
        }
        int n;
        if (arrived < total && use_pwait2) {
            /* sleep until the next due time at most (rounded up: never wake before it) */
            double wait = due[arrived] - now();
            struct timespec ts = { 0, 0 };
            if (wait > 0) {
                ts.tv_sec = (time_t)wait;
                ts.tv_nsec = (long)ceil((wait - (double)ts.tv_sec) * 1e9);
                if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            }
            n = epoll_pwait2(ep, evs, NEVENTS, &ts, NULL);
            if (n < 0 && errno == ENOSYS) { use_pwait2 = 0; continue; }
        } else if (arrived < total) {
            if (timer_for != arrived) { set_timer(due[arrived]); timer_for = arrived; }
            n = epoll_wait(ep, evs, NEVENTS, -1);
        } else n = epoll_wait(ep, evs, NEVENTS, 50);  /* draining: look at the clock now and then */
        if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); break; }
        for (int k = 0; k < n; k++) {
            if (!evs[k].data.ptr) {
                uint64_t x;
                if (read(tfd, &x, sizeof x) < 0 && errno != EAGAIN) perror("timerfd read");
                timer_for = -1;
                continue;
            }
            on_event(evs[k].data.ptr, evs[k].events);
        }
    }
    struct rusage ru1; getrusage(RUSAGE_SELF, &ru1);
    double user = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1e-6;
    double sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e-6;
    if (lat_out) {
        FILE *f = fopen(lat_out, "wb");
        if (!f || fwrite(lat, sizeof(double), total, f) != (size_t)total) perror(lat_out);
        if (f) fclose(f);
    }
    /* the measured latencies, sorted in place after the warm-up */
    long measured = 0;
    for (long i = warmup; i < total; i++) if (!isnan(lat[i])) lat[warmup + measured++] = lat[i];
    double *m = lat + warmup;
    qsort(m, measured, sizeof(double), cmp);
#define PCT(q) (measured ? m[(long)(measured * (q)) < measured ? (long)(measured * (q)) : measured - 1] * 1e3 : 0.0)
    double el = end - t0;
    printf("{\"mode\": \"%s\", \"offered_rate\": %.1f, \"achieved_rate\": %.1f, \"requests\": %ld, "
           "\"warmup\": %ld, \"completed\": %ld, \"measured\": %ld, \"errors\": %ld, \"first_error\": ",
           mode_new ? "new" : "persistent", rate, el > 0 ? completed / el : 0.0, total, warmup,
           completed, measured, errors);
    json_string(first_error);
    printf(", \"late_starts\": %ld, \"starts_over_1ms\": %ld, \"start_lag_max_ms\": %.3f, "
           "\"max_open_seen\": %ld, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"p999\": %.3f, "
           "\"max\": %.3f, \"gen_cpu_s\": %.3f, \"gen_sys_s\": %.3f, \"seconds\": %.4f}\n",
           late_starts, over_1ms, lag_max * 1e3, open_max, PCT(0.50), PCT(0.90), PCT(0.99),
           PCT(0.999), measured ? m[measured - 1] * 1e3 : 0.0, user + sys, sys, el);
    return errors ? 1 : 0;
}
