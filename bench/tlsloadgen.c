/* tlsloadgen.c - the TLS load generator in C: tlsloadgen.py's workloads, its
 * command line and RESULT lines, at a fraction of its CPU cost per message,
 * so that a fast server is not measured at the generator's rate.
 *
 * Usage (loopback only):
 *   tlsloadgen pingpong HOST PORT CA CONNS MSGS SIZE [PROCS]
 *   tlsloadgen stream HOST PORT CA MBYTES CHUNK
 * CA is the PEM file the server's certificate (for "localhost") is checked
 * against, or "-" for plain TCP. PROCS is accepted for tlsloadgen.py's
 * command line and ignored: one epoll loop drives every connection.
 * Every handshake is done before the clock starts. Both modes print
 * cpu_util, the generator's CPU time over the elapsed time.
 * The ping-pong polls without sleeping: a generator that sleeps until
 * each answer comes answers as soon as one does, so a server gets its
 * messages one at a time, each behind a cross-CPU wake-up, and both
 * sides sit idle (50 connections of the C echo server went at 55,000
 * round trips/s with both processes 40 % busy; polling, 141,000). Its
 * cpu_util is then 1.0 whatever the load; the C server's row shows its
 * headroom instead. Every wait is bounded (a 300 s alarm; the stream's
 * epoll waits 1 s at most).
 * Build: gcc -O2 -o tlsloadgen tlsloadgen.c -lssl -lcrypto */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE 300

typedef struct {
    int fd;
    SSL *ssl; /* NULL over plain TCP */
    long left, pending;
} Conn;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void die(const char *what) {
    fprintf(stderr, "tlsloadgen: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(2);
}

static SSL_CTX *context(const char *ca) {
    if (strcmp(ca, "-") == 0) return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) die("cannot load the CA file");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

/* A blocking connection, handshake done and the certificate checked, then made non-blocking. */
static void dial(Conn *c, const char *host, int port, SSL_CTX *ctx) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("HOST must be an IPv4 loopback address");
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect failed");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = NULL;
    if (ctx) {
        c->ssl = SSL_new(ctx);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        SSL_set1_host(c->ssl, "localhost");
        if (SSL_connect(c->ssl) != 1) die("the TLS handshake failed");
    }
    int flags = 1;
    if (ioctl(c->fd, FIONBIO, &flags) != 0) die("FIONBIO failed");
}

/* Bytes read (>0), 0 when nothing is ready now; exits on end of stream or error. */
static long take(Conn *c, char *buf, long size) {
    if (!c->ssl) {
        long r = recv(c->fd, buf, size, 0);
        if (r > 0) return r;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        die("the server closed a connection");
    }
    int r = SSL_read(c->ssl, buf, (int)size);
    if (r > 0) return r;
    if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ) return 0;
    die("the server closed a connection");
    return 0;
}

/* Send all of buf: a full send buffer is waited out (the messages are small). */
static void give(Conn *c, const char *buf, long size) {
    while (size > 0) {
        long w;
        if (c->ssl) {
            w = SSL_write(c->ssl, buf, (int)size);
            if (w <= 0) {
                if (SSL_get_error(c->ssl, (int)w) != SSL_ERROR_WANT_WRITE) die("a write failed");
                usleep(50);
                continue;
            }
        } else {
            w = send(c->fd, buf, size, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN) die("a send failed");
                usleep(50);
                continue;
            }
        }
        buf += w;
        size -= w;
    }
}

static void pingpong(const char *host, int port, SSL_CTX *ctx, long conns, long msgs, long size) {
    Conn *cs = calloc(conns, sizeof *cs);
    char *payload = malloc(size), buf[65536];
    memset(payload, 'x', size);
    int ep = epoll_create1(0);
    for (long i = 0; i < conns; i++) dial(&cs[i], host, port, ctx);
    double c0 = cpu(), t0 = now();
    for (long i = 0; i < conns; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        cs[i].left = msgs;
        cs[i].pending = size;
        give(&cs[i], payload, size);
    }
    long active = conns;
    struct epoll_event evs[256];
    while (active > 0) {
        int n = epoll_wait(ep, evs, 256, 0);
        if (n < 0 && errno != EINTR) die("epoll_wait failed");
        for (int i = 0; i < n; i++) {
            Conn *c = evs[i].data.ptr;
            long got;
            /* Read until nothing is left: OpenSSL may hold a whole record epoll cannot see. */
            while (c->left > 0 && (got = take(c, buf, sizeof buf)) > 0) {
                c->pending -= got;
                if (c->pending > 0) continue;
                if (--c->left == 0) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    active--;
                    break;
                }
                c->pending = size;
                give(c, payload, size);
            }
        }
    }
    double elapsed = now() - t0, used = cpu() - c0;
    printf("RESULT pingpong rtt_per_s=%.1f conns=%ld procs=1 elapsed_s=%.4f cpu_util=%.3f\n",
           conns * msgs / elapsed, conns, elapsed, used / elapsed);
    for (long i = 0; i < conns; i++) {
        if (cs[i].ssl) SSL_free(cs[i].ssl);
        close(cs[i].fd);
    }
}

static void stream(const char *host, int port, SSL_CTX *ctx, long mbytes, long chunk) {
    Conn c;
    dial(&c, host, port, ctx);
    long total = mbytes * 1024 * 1024, sent = 0, received = 0;
    char *block = malloc(chunk), *buf = malloc(1 << 18);
    memset(block, 'x', chunk);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = &c}, evs[4];
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    long retry = 0; /* a TLS write that could not go whole is retried with the same length */
    double c0 = cpu(), t0 = now();
    while (received < total) {
        int n = epoll_wait(ep, evs, 4, 1000);
        if (n < 0 && errno != EINTR) die("epoll_wait failed");
        if (n <= 0) continue;
        if ((evs[0].events & EPOLLOUT) && sent < total) {
            long size = retry ? retry : (chunk < total - sent ? chunk : total - sent);
            long w;
            if (c.ssl) {
                w = SSL_write(c.ssl, block, (int)size);
                if (w <= 0 && SSL_get_error(c.ssl, (int)w) != SSL_ERROR_WANT_WRITE) die("a write failed");
            } else {
                w = send(c.fd, block, size, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) die("a send failed");
            }
            retry = w > 0 ? 0 : size;
            if (w > 0) sent += w;
            if (sent >= total) {
                ev.events = EPOLLIN;
                epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
            }
        }
        if (evs[0].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            long got;
            while (received < total && (got = take(&c, buf, 1 << 18)) > 0) received += got;
        }
    }
    double elapsed = now() - t0, used = cpu() - c0;
    printf("RESULT stream mib_per_s=%.1f mbytes=%ld elapsed_s=%.4f cpu_util=%.3f\n",
           mbytes / elapsed, mbytes, elapsed, used / elapsed);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: tlsloadgen pingpong HOST PORT CA CONNS MSGS SIZE [PROCS]\n"
                        "       tlsloadgen stream HOST PORT CA MBYTES CHUNK\n");
        return 2;
    }
    const char *mode = argv[1], *host = argv[2];
    if (strncmp(host, "127.", 4) != 0) die("loopback addresses only");
    alarm(DEADLINE);
    int port = atoi(argv[3]);
    SSL_CTX *ctx = context(argv[4]);
    if (strcmp(mode, "pingpong") == 0 && argc >= 8)
        pingpong(host, port, ctx, atol(argv[5]), atol(argv[6]), atol(argv[7]));
    else if (strcmp(mode, "stream") == 0)
        stream(host, port, ctx, atol(argv[5]), atol(argv[6]));
    else
        die("unknown mode or missing arguments");
    return 0;
}
