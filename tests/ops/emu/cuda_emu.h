// Host emulation of the small part of CUDA C++ that kernels/*.cu use, so that the kernels can be
// compiled with g++ and checked against the CPU reference on a machine without a GPU.
//
// It is force-included (`-include cuda_emu.h`) before each kernel file, with CONVEXGAN_HOST_EMU
// defined; `__CUDA_ARCH__` stays undefined, as in any host compilation.
//
// Model: a launch runs its blocks one after another; the threads of a block are real host threads
// (one std::thread per CUDA thread), so a data race or a missing barrier in a kernel can show up here
// as it would on a GPU. `__shared__` becomes `static`: all threads of the running block see the same
// variable, which is right because only one block runs at a time (launches are serialised by the
// launcher). `extern __shared__ T name[];` is rewritten by the test build into a pointer to the
// launch's dynamic shared memory (`emu::dynamic_shared<T>()`), refilled with NaN bytes per block.
//
// Limits (what a kernel must not rely on here):
// - No implicit warp synchrony: lanes are independent threads, so warp-level communication must go
//   through the shuffles/ballots below or `__syncwarp()`.
// - Shuffles, votes and `__syncwarp` must be reached by every live lane of the warp (full mask);
//   the mask argument is ignored. `width` below 32 is supported for shuffles.
// - A thread that returns from the kernel leaves the block's barriers (as exited threads do not
//   hold up `__syncthreads` on current GPUs); it must not be waited for by a shuffle.
// - Static `__shared__` variables keep their values from one block to the next (on a GPU they are
//   undefined at block start); kernels must initialise them, as they must on the device.
// - Atomics exist for the types below only; memory fences are sequentially consistent fences.
// - Math functions are <cmath>'s (correctly rounded or close), not the GPU's: fast intrinsics such
//   as `__expf` are exact here, so results can differ from the device in the last bits.
// - Blocks run one after another, so a kernel that waits on another block (a grid-wide flag or
//   barrier) would hang; none of ours does.
// - One kernel runs at a time (tests/ops/emulation.rs serialises launches, and each family's
//   library has its own lock too); each family is its own shared library, as NVRTC compiles each
//   family on its own, so helpers of the same name in two families never clash.
// - Textures, cooperative groups, streams, clocks and inline PTX do not exist (common.cuh keeps its
//   one `asm` under `__CUDA_ARCH__`, with an exact integer f16 widening for the host).
// - __nv_bfloat16 and __half are not defined here: kernels/common.cuh defines both as raw bits
//   (NVRTC 13.0 ships no cuda_bf16.h / cuda_fp16.h) and widens them with `to_float`.
#pragma once

#ifndef CONVEXGAN_HOST_EMU
#define CONVEXGAN_HOST_EMU 1
#endif

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

// ---- qualifiers ---------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __shared__ static
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)

// ---- built-in index variables ---------------------------------------------------------------------
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3() = default;
    constexpr dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace emu {

// The state of the block that is running; every thread of the block points at it.
struct Block {
    explicit Block(unsigned threads)
        : n_threads(threads), n_warps((threads + 31) / 32), sync(threads) {
        for (unsigned w = 0; w < n_warps; ++w) {
            unsigned lanes = std::min(32u, threads - 32 * w);
            warps.push_back(std::make_unique<Warp>(lanes));
        }
    }
    struct Warp {
        explicit Warp(unsigned lanes) : n_lanes(lanes), sync(lanes) {}
        unsigned n_lanes;
        std::barrier<> sync;
        unsigned long long slot[32] = {};
    };
    unsigned n_threads;
    unsigned n_warps;
    std::barrier<> sync;
    std::vector<std::unique_ptr<Warp>> warps;
    std::atomic<int> vote{0};
    unsigned char* dyn_shared = nullptr;
};

inline thread_local Block* tl_block = nullptr;
inline thread_local unsigned tl_lane = 0;
inline thread_local unsigned tl_warp = 0;

inline Block::Warp& warp() { return *tl_block->warps[tl_warp]; }

template <class T>
T* dynamic_shared() {
    return reinterpret_cast<T*>(tl_block->dyn_shared);
}

// Exchange one value per lane through the warp's slots: write, wait, read, wait (the second wait
// keeps a fast lane from overwriting a slot another lane has not read yet).
template <class T, class F>
T exchange(T v, F src_lane_of) {
    static_assert(sizeof(T) <= sizeof(unsigned long long), "shuffle of a type wider than 8 bytes");
    Block::Warp& w = warp();
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    w.slot[tl_lane] = bits;
    w.sync.arrive_and_wait();
    unsigned src = src_lane_of(tl_lane);
    unsigned long long got = w.slot[src < w.n_lanes ? src : tl_lane];
    w.sync.arrive_and_wait();
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace emu

// ---- synchronisation ---------------------------------------------------------------------------------
inline void __syncthreads() { emu::tl_block->sync.arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warp().sync.arrive_and_wait(); }
inline int __syncthreads_count(int pred) {
    emu::Block& b = *emu::tl_block;
    b.sync.arrive_and_wait();
    if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) b.vote.store(0);
    b.sync.arrive_and_wait();
    if (pred) b.vote.fetch_add(1);
    b.sync.arrive_and_wait();
    int n = b.vote.load();
    b.sync.arrive_and_wait();
    return n;
}
inline int __syncthreads_or(int pred) { return __syncthreads_count(pred) != 0; }
inline int __syncthreads_and(int pred) {
    return __syncthreads_count(pred) == static_cast<int>(emu::tl_block->n_threads);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned __activemask() { return 0xffffffffu; }

// ---- warp shuffles and votes ---------------------------------------------------------------------------
template <class T>
T __shfl_sync(unsigned, T v, int src, int width = 32) {
    return emu::exchange(v, [&](unsigned lane) { return (lane / width) * width + (src % width); });
}
template <class T>
T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
    return emu::exchange(v, [&](unsigned lane) {
        unsigned s = lane ^ static_cast<unsigned>(mask);
        return (s / width == lane / width) ? s : lane;
    });
}
template <class T>
T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::exchange(v, [&](unsigned lane) {
        unsigned s = lane + delta;
        return (s / width == lane / width) ? s : lane;
    });
}
template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
    return emu::exchange(v, [&](unsigned lane) {
        return (lane % width >= delta) ? lane - delta : lane;
    });
}
inline unsigned __ballot_sync(unsigned, int pred) {
    unsigned bits = 0;
    for (int i = 0; i < 32; ++i) {
        int p = __shfl_sync(0xffffffffu, pred ? 1 : 0, i);
        if (p) bits |= 1u << i;
    }
    return bits & (emu::warp().n_lanes == 32 ? 0xffffffffu : ((1u << emu::warp().n_lanes) - 1));
}
inline int __any_sync(unsigned m, int pred) { return __ballot_sync(m, pred) != 0; }
inline int __all_sync(unsigned m, int pred) {
    unsigned lanes = emu::warp().n_lanes;
    unsigned full = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
    return __ballot_sync(m, pred) == full;
}

// ---- atomics -----------------------------------------------------------------------------------------
template <class T>
inline T emu_atomic_add(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
}
inline float atomicAdd(float* p, float v) { return emu_atomic_add(p, v); }
inline double atomicAdd(double* p, double v) { return emu_atomic_add(p, v); }
inline int atomicAdd(int* p, int v) { return emu_atomic_add(p, v); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return emu_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return emu_atomic_add(p, v);
}
template <class T>
inline T emu_atomic_cas(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;
}
inline int atomicCAS(int* p, int c, int v) { return emu_atomic_cas(p, c, v); }
inline unsigned atomicCAS(unsigned* p, unsigned c, unsigned v) { return emu_atomic_cas(p, c, v); }
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long c,
                                    unsigned long long v) {
    return emu_atomic_cas(p, c, v);
}
template <class T>
inline T atomicExch(T* p, T v) {
    return std::atomic_ref<T>(*p).exchange(v);
}
template <class T>
inline T atomicMax(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old > v && !a.compare_exchange_weak(old, v)) {
    }
    return old;
}

// ---- math ------------------------------------------------------------------------------------------------
using std::ceil;
using std::exp;
using std::fabs;
using std::floor;
using std::log;
using std::pow;
using std::sqrt;
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return std::fmin(std::fmax(x, 0.0f), 1.0f); }
inline float __int_as_float(int x) {
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}
inline int __float_as_int(float f) {
    int x;
    std::memcpy(&x, &f, 4);
    return x;
}
inline unsigned __float_as_uint(float f) {
    unsigned x;
    std::memcpy(&x, &f, 4);
    return x;
}
inline float __uint_as_float(unsigned x) {
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }

// CUDA's min/max overloads for mixed argument types follow the usual arithmetic conversions.
template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(a) : static_cast<C>(b);
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}

template <class T>
inline T __ldg(const T* p) {
    return *p;
}

// ---- vector types -------------------------------------------------------------------------------------
struct __align__(8) float2 {
    float x, y;
};
struct __align__(16) float4 {
    float x, y, z, w;
};
struct __align__(16) uint4 {
    unsigned x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
