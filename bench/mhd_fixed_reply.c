/*
 * The yardstick for stepd's small-request speed: a minimal libmicrohttpd server answering every
 * request with a fixed 16-byte JSON body, configured like stepd's (internal polling thread,
 * epoll, a thread pool of one thread per core). `stepd bench http` builds and runs it next to
 * stepd and loads both with wrk in the same run.
 *
 *   cc -O2 -o mhd_fixed_reply bench/mhd_fixed_reply.c -lmicrohttpd
 *   ./mhd_fixed_reply PORT THREADS
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"status\":\"ok\"}\n";

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
    (void)cls; (void)url; (void)method; (void)version; (void)upload;
    if (*state == NULL) { *state = (void *)1; return MHD_YES; }
    if (*upload_size != 0) { *upload_size = 0; return MHD_YES; }
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

int main(int argc, char **argv) {
    unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 8090;
    unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    struct MHD_Daemon *d = threads > 1
        ? MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END)
        : MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_END);
    if (!d) { fprintf(stderr, "cannot start on port %u\n", port); return 1; }
    printf("listening %u\n", port);
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
