/* ag_kernels_avx2.c -- the kernels (ag_simd.h) for x86-64 processors with AVX2 with FMA (x86-64-v3): vectors of 8 floats, built with -mavx2 -mfma (CMakeLists.txt).
 * ag_kernels.c calls them only on a processor that has those instructions. Empty
 * elsewhere, in the double build, and with -DAG_CLONES=OFF. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(AG_DOUBLE) && !defined(AG_NO_CLONES)
#define AG_SIMD_KV 8
#define AG_SIMD_FN(name) ag__##name##_avx2
#include "ag_simd.h"
#else
typedef int ag_kernels_avx2_empty; /* ISO C wants something in every file */
#endif
