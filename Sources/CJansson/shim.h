#ifndef STEPD_CJANSSON_SHIM_H
#define STEPD_CJANSSON_SHIM_H
#include <jansson.h>

/* json_decref/json_incref are inline in jansson.h; these give Swift a plain function. */
static inline void stepd_json_decref(json_t *json) { json_decref(json); }
static inline json_t *stepd_json_incref(json_t *json) { return json_incref(json); }
static inline int stepd_json_typeof(const json_t *json) { return (int)json_typeof(json); }

/* Returns freed heap to the system after a large tree is released: jansson allocates one
 * small block per value, which glibc would otherwise keep (see JSONDocument). */
#if defined(__GLIBC__)
#include <malloc.h>
static inline void stepd_release_free_heap(void) { malloc_trim(0); }
#else
static inline void stepd_release_free_heap(void) {}
#endif
#endif
