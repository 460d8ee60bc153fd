/* A TCP proxy on 127.0.0.1 that delays each direction by a fixed time, in C (one epoll loop).
 *
 * The same job as bench/_proxy.py without Python's CPU per chunk, to tell whether that proxy
 * is what slows 100 connections down (bench/delay_scaling.py builds and runs it).
 * Usage: _cproxy LISTEN_PORT TARGET_PORT DELAY_MS   (prints "ready" when listening)
 * Each chunk read is written DELAY_MS after it arrived; order is kept per direction; an EOF
 * is passed on (shutdown) after the same delay.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define CHUNK 65536

struct chunk {
    struct chunk *next;
    int64_t due;
    size_t len, off; /* len 0: the EOF */
    char data[];
};

struct side { /* bytes read from fd, waiting to be written to the peer */
    int fd, peer;
    struct chunk *head, *tail;
    int eof_sent;
};

static struct side *sides[MAX_CONNS * 2 + 16]; /* by fd */
static int64_t delay_ns;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void push(struct side *s, const char *data, size_t len) {
    struct chunk *c = malloc(sizeof *c + len);
    c->next = NULL, c->due = now_ns() + delay_ns, c->len = len, c->off = 0;
    memcpy(c->data, data, len);
    if (s->tail) s->tail->next = c; else s->head = c;
    s->tail = c;
}

static void drop(int ep, struct side *s) {
    if (!s) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    while (s->head) { struct chunk *c = s->head; s->head = c->next; free(c); }
    sides[s->fd] = NULL;
    free(s);
}

static void close_pair(int ep, struct side *s) {
    struct side *p = sides[s->peer];
    drop(ep, s);
    drop(ep, p);
}

/* write what is due; 1 if the pair was closed */
static int flush(int ep, struct side *s, int64_t now) {
    while (s->head && s->head->due <= now) {
        struct chunk *c = s->head;
        if (c->len == 0) {
            shutdown(s->peer, SHUT_WR);
            s->eof_sent = 1;
            struct side *p = sides[s->peer];
            s->head = c->next; free(c);
            if (!s->head) s->tail = NULL;
            if (p && p->eof_sent && !p->head) { close_pair(ep, s); return 1; }
            continue;
        }
        ssize_t n = write(s->peer, c->data + c->off, c->len - c->off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return 0;
            close_pair(ep, s);
            return 1;
        }
        c->off += (size_t)n;
        if (c->off < c->len) return 0;
        s->head = c->next; free(c);
        if (!s->head) s->tail = NULL;
    }
    return 0;
}

static struct side *new_side(int ep, int fd, int peer) {
    struct side *s = calloc(1, sizeof *s);
    s->fd = fd, s->peer = peer;
    sides[fd] = s;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return s;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s LISTEN TARGET DELAY_MS\n", argv[0]); return 2; }
    int listen_port = atoi(argv[1]), target = atoi(argv[2]);
    delay_ns = (int64_t)(atof(argv[3]) * 1e6);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(listen_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 256)) { perror("listen"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, events[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("ready\n");
    fflush(stdout);
    static char buf[CHUNK];
    for (;;) {
        int64_t now = now_ns(), next = -1;
        for (int fd = 0; fd < (int)(sizeof sides / sizeof *sides); fd++) {
            struct side *s = sides[fd];
            if (!s) continue;
            if (flush(ep, s, now)) continue;
            s = sides[fd];
            if (s && s->head && (next < 0 || s->head->due < next)) next = s->head->due;
        }
        struct timespec wait = {0, 0}, *timeout = NULL;
        if (next >= 0) {
            int64_t left = next - now_ns();
            if (left < 0) left = 0;
            wait.tv_sec = left / 1000000000, wait.tv_nsec = left % 1000000000;
            timeout = &wait;
        }
        int n = epoll_pwait2(ep, events, 256, timeout, NULL);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c = accept(lfd, NULL, NULL);
                if (c < 0) continue;
                int u = socket(AF_INET, SOCK_STREAM, 0);
                struct sockaddr_in t = {.sin_family = AF_INET, .sin_port = htons(target)};
                inet_pton(AF_INET, "127.0.0.1", &t.sin_addr);
                if (connect(u, (struct sockaddr *)&t, sizeof t)) { close(c); close(u); continue; }
                new_side(ep, c, u);
                new_side(ep, u, c);
                continue;
            }
            struct side *s = sides[fd];
            if (!s) continue;
            ssize_t got = read(fd, buf, sizeof buf);
            if (got > 0) {
                push(s, buf, (size_t)got);
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                push(s, buf, 0);
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL); /* nothing more to read */
            }
        }
    }
}
