/* Header-only target: the intrinsics live in include/CStepIntrinsics.h. */
