/* A minimal single-threaded epoll TLS echo server on OpenSSL: the "trivial
 * server" that shows how fast the TLS load generator can go, so that the
 * Python servers it measures are known to be the bottleneck. Loopback only.
 * Usage: tls_echo_server PORT CERT KEY   (prints "READY <port>", serves until killed)
 * Build: gcc -O2 -o tls_echo_server tls_echo_server.c -lssl -lcrypto */
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
#include <sys/socket.h>
#include <unistd.h>

#include "loopback_listen.h"

#define MAX_FD 65536

static SSL *conns[MAX_FD];

static void drop(int fd) {
    /* A stale error in the queue would make SSL_get_error misjudge the next connection. */
    ERR_clear_error();
    SSL_free(conns[fd]);
    conns[fd] = NULL;
    close(fd);
}

/* Echo whatever can be read; a full send buffer is waited out briefly, as in echo_server.c. */
static void serve(int fd) {
    static char buf[1 << 16];
    SSL *ssl = conns[fd];
    if (!SSL_is_init_finished(ssl)) {
        int r = SSL_accept(ssl);
        if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) drop(fd);
        if (r <= 0) return;
    }
    for (;;) {
        int r = SSL_read(ssl, buf, sizeof buf);
        if (r <= 0) {
            if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) drop(fd);
            return;
        }
        for (;;) {
            int w = SSL_write(ssl, buf, r);
            if (w > 0) break;
            if (SSL_get_error(ssl, w) != SSL_ERROR_WANT_WRITE) { drop(fd); return; }
            usleep(50);
        }
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: tls_echo_server PORT CERT KEY\n"); return 2; }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    int ls = listen_loopback(atoi(argv[1])), one = 1;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd != ls) { serve(fd); continue; }
            int c;
            while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                if (c >= MAX_FD) { close(c); continue; }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[c] = SSL_new(ctx);
                SSL_set_fd(conns[c], c);
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
            }
        }
    }
}
