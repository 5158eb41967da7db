/*
 * kubenetlab's native request/response driver: TCP_CRR (connect, request, response,
 * close per transaction: no Debian package does it, netperf is not packaged) and TCP_RR
 * (one connection, used to measure this driver's own cost against sockperf).
 *
 *   knl-rr server PORT
 *   knl-rr client crr|rr HOST PORT DURATION_S WARMUP_S SIZE
 *       -> one JSON line: {"transactions": N, "seconds": S, "lost": 0, "samples_ns": [...]}
 *
 * Samples are round-trip times in nanoseconds (CLOCK_MONOTONIC) after the warm-up; the
 * Python side pools them into the same HDR histograms as every other driver.
 * Built by `make setup` (scripts/setup.sh) with the system compiler.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65536

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int full_io(int fd, char *buf, int size, int writing) {
    int done = 0;
    while (done < size) {
        ssize_t n = writing ? send(fd, buf + done, size - done, MSG_NOSIGNAL)
                            : recv(fd, buf + done, size - done, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return -1;
        }
        done += (int)n;
    }
    return 0;
}

static int serve(int port) {
    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) {
        perror("knl-rr server");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    static char buf[MAX_SIZE];
    for (;;) {
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) continue;
        setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ssize_t n;
        /* Echo until the client closes: one request (CRR) or many (RR). */
        while ((n = recv(conn, buf, sizeof buf, 0)) > 0)
            if (full_io(conn, buf, (int)n, 1)) break;
        close(conn);
    }
}

static int open_conn(const struct sockaddr_in *addr) {
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int client(int crr, const char *host, int port, double duration, double warmup, int size) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || size < 1 || size > MAX_SIZE) {
        fprintf(stderr, "knl-rr: bad host or size\n");
        return 2;
    }
    static char buf[MAX_SIZE];
    memset(buf, 'k', sizeof buf);
    size_t cap = 1 << 16, count = 0;
    uint64_t *samples = malloc(cap * sizeof *samples);
    uint64_t start = now_ns(), measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(duration * 1e9);
    long transactions = 0;
    int fd = crr ? -1 : open_conn(&addr);
    if (!crr && fd < 0) {
        perror("knl-rr: connect");
        return 1;
    }
    for (uint64_t t0 = now_ns(); t0 < end; t0 = now_ns()) {
        if (crr && (fd = open_conn(&addr)) < 0) {
            perror("knl-rr: connect");
            return 1;
        }
        if (full_io(fd, buf, size, 1) || full_io(fd, buf, size, 0)) {
            fprintf(stderr, "knl-rr: connection lost after %ld transactions\n", transactions);
            return 1;
        }
        if (crr) close(fd);
        uint64_t t1 = now_ns();
        transactions++;
        if (t0 < measure_from) continue;
        if (count == cap) samples = realloc(samples, (cap *= 2) * sizeof *samples);
        samples[count++] = t1 - t0;
    }
    if (!crr) close(fd);
    printf("{\"transactions\": %ld, \"seconds\": %.6f, \"lost\": 0, \"samples_ns\": [",
           transactions, (now_ns() - start) / 1e9);
    for (size_t i = 0; i < count; i++) printf(i ? ",%lu" : "%lu", (unsigned long)samples[i]);
    printf("]}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "server")) return serve(atoi(argv[2]));
    if (argc == 8 && !strcmp(argv[1], "client") && (!strcmp(argv[2], "crr") || !strcmp(argv[2], "rr")))
        return client(!strcmp(argv[2], "crr"), argv[3], atoi(argv[4]), atof(argv[5]),
                      atof(argv[6]), atoi(argv[7]));
    fprintf(stderr, "usage: knl-rr server PORT | knl-rr client crr|rr HOST PORT DURATION WARMUP SIZE\n");
    return 2;
}
