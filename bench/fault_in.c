/* What a restore pays to fault in fresh buffers, with and without transparent huge pages:
 * reads FILE (already in the page cache after the first round) into freshly mapped memory,
 * alternating 4 KiB pages and MADV_HUGEPAGE round by round, and prints each round and the
 * medians. Why AlignedBuffer does not ask for huge pages: see the README (Performance).
 *   gcc -O2 bench/fault_in.c -o /tmp/fault_in && /tmp/fault_in FILE [ROUNDS]            */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static double load(const char *path, size_t n, int huge) {
    double t = now();
    char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    if (huge) madvise(p, n, MADV_HUGEPAGE);
    int fd = open(path, O_RDONLY);
    for (size_t off = 0; off < n;) { ssize_t k = pread(fd, p + off, n - off < (8u << 20) ? n - off : (8u << 20), off); if (k <= 0) break; off += k; }
    close(fd);
    double s = now() - t;
    munmap(p, n);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE [ROUNDS]\n", argv[0]); return 2; }
    struct stat st; if (stat(argv[1], &st) != 0) { perror("stat"); return 1; }
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    double small[64], huge[64];
    load(argv[1], st.st_size, 0);  /* warm the page cache */
    for (int r = 0; r < rounds && r < 64; r++) {
        small[r] = load(argv[1], st.st_size, 0);
        huge[r] = load(argv[1], st.st_size, 1);
        printf("round %d: 4 KiB pages %.3f s, huge pages %.3f s\n", r + 1, small[r], huge[r]);
    }
    qsort(small, rounds, sizeof(double), cmp); qsort(huge, rounds, sizeof(double), cmp);
    printf("%zu MB from the page cache into fresh memory, median of %d: 4 KiB pages %.3f s, huge pages %.3f s (%.1fx)\n",
           (size_t)st.st_size >> 20, rounds, small[rounds / 2], huge[rounds / 2], small[rounds / 2] / huge[rounds / 2]);
    return 0;
}
