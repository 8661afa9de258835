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

/* Everything stepd passes to MHD_start_daemon, in one struct so that the wrapper keeps a
 * fixed signature as options are added. Zero or NULL members are left out of the option list
 * (MHD's defaults apply), except where noted. */
struct stepd_mhd_config {
    unsigned int flags;
    const struct sockaddr *address;
    /* Below 2: no pool (MHD warns about a pool of 1). */
    unsigned int thread_pool_size;
    /* Idle seconds; 0 is passed on and means no time-out. */
    unsigned int connection_timeout_seconds;
    size_t connection_memory_limit;
    size_t connection_memory_increment;
    unsigned int connection_limit;
    /* 0: no per-address limit. */
    unsigned int per_address_connection_limit;
    /* PEM text, both or neither; needed only during the call (GnuTLS copies them). The
     * caller sets MHD_USE_TLS in flags. */
    const char *tls_key_pem;
    const char *tls_cert_pem;
    MHD_AccessHandlerCallback access_handler;
    void *access_handler_cls;
    /* Per-request state is freed here, also on errors and time-outs. */
    MHD_RequestCompletedCallback completed;
    void *completed_cls;
    /* Told when a connection opens and closes; NULL: not asked. */
    MHD_NotifyConnectionCallback notify_connection;
    void *notify_connection_cls;
    struct stepd_mhd_log_sink *log_sink;
};

/* Starts a daemon from a config, through MHD_OPTION_ARRAY so the option list can depend on
 * the config without a variadic call per combination. */
static inline struct MHD_Daemon *stepd_mhd_start(const struct stepd_mhd_config *c) {
    struct MHD_OptionItem options[16]; /* 13 at most, with the end marker */
    unsigned int n = 0;
#define STEPD_MHD_OPTION(opt, value, ptr) \
    options[n++] = (struct MHD_OptionItem){ (opt), (intptr_t)(value), (void *)(ptr) }
    /* The logger goes first: MHD reports options given before it to stderr. */
    STEPD_MHD_OPTION(MHD_OPTION_EXTERNAL_LOGGER, stepd_mhd_log_trampoline, c->log_sink);
    if (c->thread_pool_size > 1)
        STEPD_MHD_OPTION(MHD_OPTION_THREAD_POOL_SIZE, c->thread_pool_size, NULL);
    STEPD_MHD_OPTION(MHD_OPTION_SOCK_ADDR, 0, c->address);
    STEPD_MHD_OPTION(MHD_OPTION_CONNECTION_TIMEOUT, c->connection_timeout_seconds, NULL);
    STEPD_MHD_OPTION(MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->connection_memory_limit, NULL);
    STEPD_MHD_OPTION(MHD_OPTION_CONNECTION_MEMORY_INCREMENT, c->connection_memory_increment, NULL);
    STEPD_MHD_OPTION(MHD_OPTION_CONNECTION_LIMIT, c->connection_limit, NULL);
    if (c->per_address_connection_limit > 0)
        STEPD_MHD_OPTION(MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->per_address_connection_limit, NULL);
    if (c->tls_key_pem != NULL && c->tls_cert_pem != NULL) {
        STEPD_MHD_OPTION(MHD_OPTION_HTTPS_MEM_KEY, 0, c->tls_key_pem);
        STEPD_MHD_OPTION(MHD_OPTION_HTTPS_MEM_CERT, 0, c->tls_cert_pem);
    }
    if (c->completed != NULL)
        STEPD_MHD_OPTION(MHD_OPTION_NOTIFY_COMPLETED, c->completed, c->completed_cls);
    if (c->notify_connection != NULL)
        STEPD_MHD_OPTION(MHD_OPTION_NOTIFY_CONNECTION, c->notify_connection, c->notify_connection_cls);
    STEPD_MHD_OPTION(MHD_OPTION_END, 0, NULL);
#undef STEPD_MHD_OPTION
    return MHD_start_daemon(c->flags, 0, NULL, NULL, c->access_handler, c->access_handler_cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/* The socket of a connection, for closing it from outside MHD's threads with shutdown(2);
 * -1 if it cannot be read. */
static inline int stepd_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

/* What MHD_OPTION_NOTIFY_CONNECTION stored for a connection when it opened. */
static inline void *stepd_mhd_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == NULL ? NULL : info->socket_context;
}

/* The port the daemon listens on; 0 if it cannot be read back. */
static inline uint16_t stepd_mhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info == NULL ? 0 : info->port;
}

/* The listening socket; -1 if it cannot be read back. */
static inline int stepd_mhd_listen_fd(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
    return info == NULL ? -1 : info->listen_fd;
}

static const int64_t stepd_mhd_content_reader_end_of_stream = MHD_CONTENT_READER_END_OF_STREAM;
static const int64_t stepd_mhd_content_reader_end_with_error = MHD_CONTENT_READER_END_WITH_ERROR;
static const uint64_t stepd_mhd_size_unknown = MHD_SIZE_UNKNOWN;

#endif
