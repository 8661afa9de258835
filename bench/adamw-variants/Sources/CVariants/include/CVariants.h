typedef float variants_f8 __attribute__((ext_vector_type(8)));
static inline __attribute__((always_inline)) variants_f8 variants_sqrt8(variants_f8 x) { return __builtin_elementwise_sqrt(x); }
static inline __attribute__((always_inline)) void variants_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
static inline __attribute__((always_inline)) void variants_nt_store(variants_f8 v, void *p) { __builtin_nontemporal_store(v, (variants_f8 *)p); }
