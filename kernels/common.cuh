// Device helpers shared by every kernel family: warp and block reductions, dictionary loads.
//
// Compiled with NVRTC, which resolves `#include "common.cuh"` from the headers the host passes to
// nvrtcCreateProgram. Nothing else is included: NVRTC 13.0 ships no cuda_bf16.h / cuda_fp16.h
// (they are only bundled from 13.3 on) and a lent GPU machine may have no toolkit headers, so the
// two 16-bit storage types are defined here as raw bits, and kernels convert them with `to_float`
// (not with the toolkit's __bfloat162float / __half2float, which do not exist here).
#pragma once

#define FULL_MASK 0xffffffffu

// -inf without <math.h> (NVRTC has no INFINITY macro unless the host headers are found).
#define NEG_INF_F __int_as_float(0xff800000)

// ---- loads: dictionary rows come as float, bf16 or f16; all arithmetic is in float ----------------
// Same size, alignment and bit layout as the toolkit's types (and as `half::bf16` / `half::f16`
// on the host), so the kernel signatures in kernels/README.md keep their names.
struct __align__(2) __nv_bfloat16 {
    unsigned short bits;
};
struct __align__(2) __half {
    unsigned short bits;
};

__device__ __forceinline__ float to_float(float x) { return x; }

// bf16 is the top half of an f32: widening is a shift, exact for every value including NaN/inf.
__device__ __forceinline__ float to_float(__nv_bfloat16 x) {
    return __uint_as_float(((unsigned)x.bits) << 16);
}

// f16 → f32 is exact; the hardware conversion handles subnormals, inf and NaN.
__device__ __forceinline__ float to_float(__half x) {
#ifdef __CUDA_ARCH__
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
#else
    // Host emulation of the kernels: the same exact widening in integer arithmetic.
    const unsigned sign = (unsigned)(x.bits & 0x8000u) << 16;
    const unsigned exp = (x.bits >> 10) & 0x1fu;
    const unsigned mant = x.bits & 0x3ffu;
    if (exp == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mant << 13));
    if (exp != 0) return __uint_as_float(sign | ((exp + 112u) << 23) | (mant << 13));
    const float v = (float)mant * 5.9604644775390625e-8f;  // zero or subnormal: mant · 2^-24
    return sign ? -v : v;
#endif
}

// ---- warp reductions --------------------------------------------------------------------------
// Butterfly (xor) shuffles: every lane ends with the same result, computed in the same order, so
// the value does not depend on which lane reads it. All 32 lanes must be active.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, off));
    return v;
}

// ---- block reductions -------------------------------------------------------------------------
// Assumes the block's thread count (blockDim.x·blockDim.y·blockDim.z) is a multiple of 32 and at
// most 1024, and that every thread of the block calls it (it contains __syncthreads). Returns the
// result to every thread. The leading barrier lets a kernel call it repeatedly: the scratch of the
// previous call may still be being read by slower warps.
__device__ __forceinline__ int block_thread_index() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}

__device__ __forceinline__ float block_sum(float v) {
    __shared__ float scratch[32];
    const int tid = block_thread_index();
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int nwarps = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    // Every warp reduces the same partials in the same order: all threads get the same bits.
    v = lane < nwarps ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v) {
    __shared__ float scratch[32];
    const int tid = block_thread_index();
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int nwarps = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nwarps ? scratch[lane] : NEG_INF_F;
    return warp_max(v);
}

// ---- grid-stride loop -------------------------------------------------------------------------
// The wrappers keep n ≤ 2^30 and the grid ≤ 2^23 threads, so `i += stride` cannot overflow int.
#define GRID_STRIDE_LOOP(i, n)                                                                  \
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
