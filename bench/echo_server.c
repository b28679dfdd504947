/* A minimal single-threaded epoll echo server: the peer for client benchmarks,
 * fast enough that the client under test is the bottleneck. Loopback only.
 * Usage: echo_server PORT   (prints "READY <port>", serves until killed) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback_listen.h"

int main(int argc, char **argv) {
    int ls = listen_loopback(argc > 1 ? atoi(argv[1]) : 0), one = 1;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[1 << 16];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0) { close(fd); continue; }
            for (ssize_t off = 0; off < r;) {  /* echo everything; wait briefly if full */
                ssize_t w = write(fd, buf + off, r - off);
                if (w > 0) off += w;
                else if (errno == EAGAIN) usleep(50);
                else { close(fd); break; }
            }
        }
    }
}
