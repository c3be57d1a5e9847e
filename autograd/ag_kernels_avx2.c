/* ag_kernels_avx2.c -- the kernels (ag_simd.h) for x86-64 processors with AVX2 and FMA
 * (x86-64-v3): vectors of 8 floats, built with -mavx2 -mfma (CMakeLists.txt).
 * ag_kernels.c calls them only on a processor that has those instructions. Empty
 * unless CMake builds them (AG_X86_BUILDS, with the flags), and in the double build. */
#if defined(AG_X86_BUILDS) && !defined(AG_DOUBLE) && defined(__AVX2__) && defined(__FMA__)
#define AG_SIMD_KV 8
#define AG_SIMD_FN(name) ag__##name##_avx2
#include "ag_simd.h"
#else
typedef int ag_kernels_avx2_empty; /* ISO C wants something in every file */
#endif
