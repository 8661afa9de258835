#ifndef STEPD_CMICROHTTPD_SHIM_H
#define STEPD_CMICROHTTPD_SHIM_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* Swift cannot call C variadic functions or take va_list callbacks, so the few MHD entry
 * points stepd needs get fixed-signature wrappers here. */

/* MHD logs through a printf-style callback; this forwards each formatted line to a plain
 * (context, message) callback that Swift can implement. */
typedef void (*stepd_mhd_log_fn)(void *ctx, const char *message);

struct stepd_mhd_log_sink {
    stepd_mhd_log_fn fn;
    void *ctx;
};

static inline void stepd_mhd_log_trampoline(void *cls, const char *fmt, va_list ap) {
    struct stepd_mhd_log_sink *sink = (struct stepd_mhd_log_sink *)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (sink != NULL && sink->fn != NULL) sink->fn(sink->ctx, line);
}

/* Starts a daemon with the option set stepd uses: a bound address, a worker pool, a
 * connection time-out, a per-connection memory bound, a connection cap and a completion
 * callback (per-request state is freed there, also on errors and time-outs). */
static inline struct MHD_Daemon *stepd_mhd_start(
    unsigned int flags,
    const struct sockaddr *address,
    unsigned int thread_pool_size,
    unsigned int connection_timeout_seconds,
    size_t connection_memory_limit,
    size_t connection_memory_increment,
    unsigned int connection_limit,
    MHD_AccessHandlerCallback access_handler, void *access_handler_cls,
    MHD_RequestCompletedCallback completed, void *completed_cls,
    struct stepd_mhd_log_sink *log_sink)
{
    /* The logger goes first: MHD reports options given before it to stderr. A pool size
     * below 2 draws a warning, so the pool option is only passed for a real pool. */
#define STEPD_MHD_COMMON_OPTIONS \
        MHD_OPTION_SOCK_ADDR, address, \
        MHD_OPTION_CONNECTION_TIMEOUT, connection_timeout_seconds, \
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, connection_memory_limit, \
        MHD_OPTION_CONNECTION_MEMORY_INCREMENT, connection_memory_increment, \
        MHD_OPTION_CONNECTION_LIMIT, connection_limit, \
        MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls
    struct MHD_Daemon *daemon;
    if (thread_pool_size > 1) {
        daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, access_handler_cls,
            MHD_OPTION_EXTERNAL_LOGGER, stepd_mhd_log_trampoline, (void *)log_sink,
            MHD_OPTION_THREAD_POOL_SIZE, thread_pool_size,
            STEPD_MHD_COMMON_OPTIONS,
            MHD_OPTION_END);
    } else {
        daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, access_handler_cls,
            MHD_OPTION_EXTERNAL_LOGGER, stepd_mhd_log_trampoline, (void *)log_sink,
            STEPD_MHD_COMMON_OPTIONS,
            MHD_OPTION_END);
    }
#undef STEPD_MHD_COMMON_OPTIONS
    return daemon;
}

/* The port the daemon listens on; 0 if it cannot be read back. */
static inline uint16_t stepd_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

static const int64_t stepd_mhd_content_reader_end_of_stream = MHD_CONTENT_READER_END_OF_STREAM;
static const int64_t stepd_mhd_content_reader_end_with_error = MHD_CONTENT_READER_END_WITH_ERROR;
static const uint64_t stepd_mhd_size_unknown = MHD_SIZE_UNKNOWN;

#endif
