/* Header-only: see include/CVariants.h. */
