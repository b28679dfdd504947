/* The listening socket of bench's C echo servers: non-blocking, on 127.0.0.1:PORT
 * (0 for any free port); prints "READY <port>" once listening. Exits on failure. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static int listen_loopback(int port) {
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024)) { perror("listen"); exit(2); }
    getsockname(ls, (struct sockaddr *)&a, &len);
    printf("READY %d\n", ntohs(a.sin_port));
    fflush(stdout);
    return ls;
}
