#ifndef STEP_DASHBOARD_FILES_H
#define STEP_DASHBOARD_FILES_H
#include <stddef.h>

/// One file of the dashboard, compiled into the binary (files.c), so a stepd copied anywhere,
/// offline, serves it without looking anything up on disk.
typedef struct {
    /// The path under web/, e.g. "session.html" or "vendor/dygraphs/dygraph.min.js".
    const char *name;
    const unsigned char *bytes;
    size_t count;
} stepd_dashboard_file;

/// Every file, and their number in *count. Swift cannot import an array of unknown size, so
/// the table is reached through this function.
const stepd_dashboard_file *stepd_dashboard_files(size_t *count);

#endif
