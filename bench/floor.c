/* floor: a TCP server for the OpenKMS framing that does nothing, the machine's floor.
 *
 *   floor [--host 127.0.0.1] [--port 0] [--threads 1] [--response-bytes 555]
 *         [--echo 11:16] [--max-payload 65536] [--backlog 1024]
 *
 * For each complete request frame it writes one fixed response frame of --response-bytes
 * bytes: the OpenKMS header (magic "OK", version 1, type 2 = ActivationResponse, payload
 * length big-endian at offset 4, so that a reader delimits it as it does a real response),
 * zeros after it, and bytes [OFF, OFF+LEN) of --echo copied from the request (where the
 * request ID sits in both frames), so that a generator checking the echo accepts it. No
 * decoding, no signing, no store: what any server would have to pay the kernel at least.
 * The default, 555 bytes, is the real host's answer to a request past the N-policy (an
 * ActivationResponse with a signed ticket) as bench/bench_floor.py measured it, which it
 * does again before every sitting unless given --response-bytes.
 *
 * Framing as the host's (src/openkms/protocol/connection.py): total length = 8 + uint32
 * big-endian at offset 4. A frame whose magic or version is wrong, or whose payload is
 * longer than --max-payload, closes the connection (so does anything after EOF). Buffers are
 * bounded: a connection holds at most one maximal request frame of input and 64 KiB of
 * output; when the output is full it stops reading until the peer has taken some.
 *
 * Threads: --threads T starts T threads, each with its own epoll loop and its own listening
 * socket bound to the same port with SO_REUSEPORT (the kernel spreads new connections over
 * the listeners by a hash of the 4-tuple). Nothing is shared between threads, no lock, no
 * thundering herd on accept; it is also how several host front processes would share one
 * port. T = 1 is one epoll loop in the main thread.
 *
 * Once every listener is bound it prints "port N" on stdout (and flushes), then serves
 * until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER 8
#define OUT_CAP 65536
#define MAX_EVENTS 256
#define MAX_THREADS 64

typedef struct conn {
    int fd;
    int reading;              /* EPOLLIN armed (off while the output is full) */
    int writing;              /* EPOLLOUT armed */
    size_t in_n;              /* bytes in in[] */
    size_t out_off, out_n;    /* out[out_off, out_n) not yet sent */
    uint8_t *in;              /* in_cap bytes */
    uint8_t out[OUT_CAP];
} conn_t;

static struct sockaddr_in addr;
static size_t response_bytes = 555, in_cap, max_payload = 65536;
static long echo_off = 11, echo_len = 16;
static int backlog = 1024;
static uint8_t *response;     /* the fixed response frame */
static int listener_tag;      /* its address marks the listener in epoll data */

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int listen_socket(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("SO_REUSEADDR");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) die("SO_REUSEPORT");
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(fd, backlog) < 0) die("listen");
    return fd;
}

static void set_events(int ep, conn_t *c, int reading, int writing) {
    if (c->reading == reading && c->writing == writing) return;
    struct epoll_event ev = {
        .events = (reading ? EPOLLIN | EPOLLRDHUP : 0) | (writing ? EPOLLOUT : 0),
        .data.ptr = c,
    };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->reading = reading;
    c->writing = writing;
}

static void drop(conn_t *c) {
    close(c->fd);  /* also removes it from the epoll set */
    free(c->in);
    free(c);
}

/* Answer every complete frame in c->in while the output has room. -1: malformed. */
static int answer(conn_t *c) {
    size_t at = 0;
    while (c->in_n - at >= HEADER) {
        const uint8_t *f = c->in + at;
        if (f[0] != 'O' || f[1] != 'K' || f[2] != 1) return -1;
        size_t payload = (size_t)f[4] << 24 | (size_t)f[5] << 16 | (size_t)f[6] << 8 | f[7];
        if (payload > max_payload) return -1;
        size_t len = HEADER + payload;
        if (c->in_n - at < len) break;
        if (OUT_CAP - c->out_n < response_bytes) {
            if (c->out_off == 0) break;  /* full: wait until the peer takes some */
            memmove(c->out, c->out + c->out_off, c->out_n - c->out_off);
            c->out_n -= c->out_off;
            c->out_off = 0;
            if (OUT_CAP - c->out_n < response_bytes) break;
        }
        uint8_t *r = c->out + c->out_n;
        memcpy(r, response, response_bytes);
        if (echo_off >= 0 && (size_t)(echo_off + echo_len) <= len
            && (size_t)(echo_off + echo_len) <= response_bytes)
            memcpy(r + echo_off, f + echo_off, echo_len);
        c->out_n += response_bytes;
        at += len;
    }
    if (at) {
        memmove(c->in, c->in + at, c->in_n - at);
        c->in_n -= at;
    }
    return 0;
}

/* Send what is pending. -1: the connection is gone. */
static int flush_out(conn_t *c) {
    while (c->out_off < c->out_n) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_n - c->out_off, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_n = 0;
    return 0;
}

/* Read, answer, write; then arm the events the connection now waits for. */
static void serve(int ep, conn_t *c, int can_read) {
    if (can_read && c->in_n < in_cap) {
        ssize_t r = recv(c->fd, c->in + c->in_n, in_cap - c->in_n, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) { drop(c); return; }
        if (r > 0) c->in_n += (size_t)r;
    }
    if (answer(c) < 0 || flush_out(c) < 0) { drop(c); return; }
    if (answer(c) < 0) { drop(c); return; }  /* frames held back while the output was full */
    int pending = c->out_off < c->out_n;
    /* read while there is room for a frame and for its answer */
    int room = c->in_n < in_cap && OUT_CAP - (c->out_n - c->out_off) >= response_bytes;
    set_events(ep, c, room, pending);
}

static void accept_all(int ep, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  /* EMFILE and the like: leave them in the backlog for now */
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = malloc(sizeof *c);
        uint8_t *in = malloc(in_cap);
        if (!c || !in) { free(c); free(in); close(fd); continue; }
        c->fd = fd; c->in = in; c->in_n = 0; c->out_off = c->out_n = 0;
        c->reading = 1; c->writing = 0;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) { drop(c); continue; }
        /* the request is usually there already: answer it without another epoll_wait */
        serve(ep, c, 1);
    }
}

static void *loop(void *arg) {
    int lfd = (int)(intptr_t)arg;
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &listener_tag };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listener");
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.ptr == &listener_tag) { accept_all(ep, lfd); continue; }
            conn_t *c = evs[k].data.ptr;
            uint32_t e = evs[k].events;
            if (e & EPOLLERR) { drop(c); continue; }
            serve(ep, c, (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0);
        }
    }
    return NULL;
}

static long number(const char *option, const char *value, long low, long high) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < low || v > high) {
        fprintf(stderr, "%s: expected an integer in [%ld, %ld], got '%s'\n", option, low, high, value);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    long port = 0, threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", a); return 2; }
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = number(a, v, 0, 65535);
        else if (!strcmp(a, "--threads")) threads = number(a, v, 1, MAX_THREADS);
        else if (!strcmp(a, "--response-bytes")) response_bytes = (size_t)number(a, v, HEADER, OUT_CAP);
        else if (!strcmp(a, "--max-payload")) max_payload = (size_t)number(a, v, 0, 1 << 24);
        else if (!strcmp(a, "--backlog")) backlog = (int)number(a, v, 1, 65535);
        else if (!strcmp(a, "--echo")) {
            if (sscanf(v, "%ld:%ld", &echo_off, &echo_len) != 2 || echo_off < 0 || echo_len < 0) {
                fprintf(stderr, "--echo: expected OFF:LEN, got '%s'\n", v);
                return 2;
            }
        }
        else { fprintf(stderr, "unknown option %s\n", a); return 2; }
    }
    in_cap = HEADER + max_payload;
    response = calloc(1, response_bytes);
    if (!response) die("calloc");
    uint32_t payload = (uint32_t)(response_bytes - HEADER);
    response[0] = 'O'; response[1] = 'K'; response[2] = 1; response[3] = 2;
    response[4] = payload >> 24; response[5] = payload >> 16; response[6] = payload >> 8;
    response[7] = payload;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad --host %s\n", host); return 2; }
    signal(SIGPIPE, SIG_IGN);

    int fds[MAX_THREADS];
    fds[0] = listen_socket();
    socklen_t len = sizeof addr;  /* port 0: the others bind the port the first one got */
    if (getsockname(fds[0], (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    for (long t = 1; t < threads; t++) fds[t] = listen_socket();
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    for (long t = 1; t < threads; t++) {
        pthread_t id;
        if (pthread_create(&id, NULL, loop, (void *)(intptr_t)fds[t])) die("pthread_create");
    }
    loop((void *)(intptr_t)fds[0]);
    return 0;
}
