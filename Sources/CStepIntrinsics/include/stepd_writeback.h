#ifndef STEPD_WRITEBACK_H
#define STEPD_WRITEBACK_H
#include <stdint.h>
/*
 * Starts writing a byte range of a file to its device without waiting for it: Linux's
 * sync_file_range(SYNC_FILE_RANGE_WRITE), which Swift's Glibc module does not export (it needs
 * _GNU_SOURCE). Returns 0 when started, -1 (errno set) where it failed or does not exist. It is
 * a hint, not a durability step: only fsync makes anything durable.
 */
int stepd_start_writeback(int fd, int64_t offset, int64_t length);
#endif
