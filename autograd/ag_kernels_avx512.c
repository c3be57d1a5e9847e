/* ag_kernels_avx512.c -- the kernels (ag_simd.h) for x86-64 processors with AVX-512
 * (x86-64-v4): vectors of 16 floats, built with -mavx512f -mavx512bw -mavx512dq
 * -mavx512vl -mavx2 -mfma (CMakeLists.txt).
 * ag_kernels.c calls them only on a processor that has those instructions. Empty
 * unless CMake builds them (AG_X86_BUILDS, with the flags), and in the double build. */
#if defined(AG_X86_BUILDS) && !defined(AG_DOUBLE) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__)
#define AG_SIMD_KV 16
#define AG_SIMD_FN(name) ag__##name##_avx512
#include "ag_simd.h"
#else
typedef int ag_kernels_avx512_empty; /* ISO C wants something in every file */
#endif
