// Convex family: METHOD.md §4 Eq. 3, the batched convex combination of dictionary rows (the hot path of
// Phase 2), its backward to G's logits, and the gather of real dictionary rows.
//
// Dictionary rows are `T` = float, __nv_bfloat16 or __half (entry points suffixed _f32/_bf16/_f16);
// every product and sum is accumulated in float. Row indices are global (class offset + row) and
// are checked against the dictionary's row count by the launch wrapper, so they are trusted here.
#include "common.cuh"

// Softmax of `n` logits `z` into shared `w`, in place over the block. Every thread must call it
// (it contains block reductions); on return `w` holds the weights, visible to the whole block.
__device__ __forceinline__ void convex_softmax(float* w, const float* z, int n) {
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    float m = NEG_INF_F;
    for (int k = tid; k < n; k += nt) m = fmaxf(m, z[k]);
    m = block_max(m);
    float s = 0.0f;
    for (int k = tid; k < n; k += nt) {
        const float e = expf(z[k] - m);
        w[k] = e;
        s += e;
    }
    s = block_sum(s);
    const float inv = 1.0f / s;
    // Each thread rescales the entries it wrote, so no barrier is needed before this loop.
    for (int k = tid; k < n; k += nt) w[k] *= inv;
    __syncthreads();
}

// Forward, *sample* shape: block b = generated sample b (gridDim.x = batch), blockDim.x any multiple
// of 32 up to 1024 (wrappers use 256). Dynamic shared memory: 2·ns floats (w_t, w_s) followed by
// ns unsigned (the sample's row indices), i.e. 12·ns bytes.
// The block first writes both softmaxes to shared memory and to `w` (batch × 2ns), then each thread
// owns the output columns tid, tid + blockDim.x, … and sums w[k]·L[rows[k]][col] over k: for a
// fixed k a warp reads 32 consecutive elements of one dictionary row, so loads are coalesced.
template <class T>
__device__ void convex_fwd(float* __restrict__ f_t, float* __restrict__ f_s, float* __restrict__ w,
                           const float* __restrict__ logits, const T* __restrict__ dict_t,
                           const T* __restrict__ dict_s, const unsigned* __restrict__ rows,
                           int batch, int ns, int d_t, int d_s) {
    extern __shared__ float convex_fwd_smem[];
    const int b = blockIdx.x;
    if (b >= batch) return;
    float* w_sh = convex_fwd_smem;
    unsigned* r_sh = reinterpret_cast<unsigned*>(convex_fwd_smem + 2 * ns);
    const int tid = threadIdx.x;
    const int nt = blockDim.x;

    const float* z = logits + (size_t)b * 2 * ns;
    convex_softmax(w_sh, z, ns);
    convex_softmax(w_sh + ns, z + ns, ns);
    for (int k = tid; k < ns; k += nt) r_sh[k] = rows[(size_t)b * ns + k];
    float* w_out = w + (size_t)b * 2 * ns;
    for (int k = tid; k < 2 * ns; k += nt) w_out[k] = w_sh[k];
    __syncthreads();

    for (int col = tid; col < d_t; col += nt) {
        float acc = 0.0f;
        for (int k = 0; k < ns; ++k) acc += w_sh[k] * to_float(dict_t[(size_t)r_sh[k] * d_t + col]);
        f_t[(size_t)b * d_t + col] = acc;
    }
    for (int col = tid; col < d_s; col += nt) {
        float acc = 0.0f;
        for (int k = 0; k < ns; ++k)
            acc += w_sh[ns + k] * to_float(dict_s[(size_t)r_sh[k] * d_s + col]);
        f_s[(size_t)b * d_s + col] = acc;
    }
}

// Backward, *sample* shape: block b = sample b, blockDim.x a multiple of 32 up to 1024 (wrappers
// use 256). Dynamic shared memory: 2·ns floats (g_t, g_s), i.e. 8·ns bytes.
// g[k] = <d_f[b], L[rows[k]]>: warp j takes k = j, j + warps, …; its lanes stride over the row's
// columns (coalesced) and combine with a warp sum. Then the softmax backward of each half,
// d_logit[k] = w[k]·(g[k] − Σ_j w[j]·g[j]), with one block sum per half. `d_f` already carries the
// batch mean's 1/B, so nothing is rescaled here.
template <class T>
__device__ void convex_bwd(float* __restrict__ d_logits, const float* __restrict__ w,
                           const float* __restrict__ d_f_t, const float* __restrict__ d_f_s,
                           const T* __restrict__ dict_t, const T* __restrict__ dict_s,
                           const unsigned* __restrict__ rows, int batch, int ns, int d_t, int d_s) {
    extern __shared__ float convex_bwd_smem[];
    const int b = blockIdx.x;
    if (b >= batch) return;
    float* g_sh = convex_bwd_smem;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int n_warps = nt >> 5;

    const float* gt = d_f_t + (size_t)b * d_t;
    const float* gs = d_f_s + (size_t)b * d_s;
    // The loop bound is uniform within a warp, so every lane reaches the warp sums.
    for (int k = warp; k < ns; k += n_warps) {
        const size_t row = rows[(size_t)b * ns + k];
        const T* lt = dict_t + row * d_t;
        const T* ls = dict_s + row * d_s;
        float acc_t = 0.0f;
        for (int c = lane; c < d_t; c += 32) acc_t += gt[c] * to_float(lt[c]);
        float acc_s = 0.0f;
        for (int c = lane; c < d_s; c += 32) acc_s += gs[c] * to_float(ls[c]);
        acc_t = warp_sum(acc_t);
        acc_s = warp_sum(acc_s);
        if (lane == 0) {
            g_sh[k] = acc_t;
            g_sh[ns + k] = acc_s;
        }
    }
    __syncthreads();

    const float* wb = w + (size_t)b * 2 * ns;
    float* out = d_logits + (size_t)b * 2 * ns;
    for (int h = 0; h < 2; ++h) {
        float dot = 0.0f;
        for (int k = tid; k < ns; k += nt) dot += wb[h * ns + k] * g_sh[h * ns + k];
        dot = block_sum(dot);
        for (int k = tid; k < ns; k += nt) {
            const int i = h * ns + k;
            out[i] = wb[i] * (g_sh[i] - dot);
        }
    }
}

// ---- version 2: several blocks per sample, 16-byte loads --------------------------------------
// Version 1 (above) runs one block per sample for both streams in turn: B blocks in all (a quarter
// of what the GPU holds at B = 256), each thread loading 4 (bf16/f16: 2) bytes at a time. Version 2
// splits the work by stream and by column tile, and each thread loads 16 bytes of a row at once
// (VEC = 4 floats or 8 halves) into VEC independent accumulators.

// VEC consecutive dictionary values from `p`, which is 16-byte aligned, widened to float.
__device__ __forceinline__ void load16(const float* p, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x;
    out[1] = v.y;
    out[2] = v.z;
    out[3] = v.w;
}
template <class H>
__device__ __forceinline__ void load16(const H* p, float* out) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const unsigned words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        out[2 * i] = to_float(H{(unsigned short)(words[i] & 0xffffu)});
        out[2 * i + 1] = to_float(H{(unsigned short)(words[i] >> 16)});
    }
}

// Forward v2, *tiled* shape: gridDim = (ceil(max(d_t, d_s) / (blockDim.x·VEC)), batch, 2) with
// blockIdx.z the stream (0 texture, 1 shape), blockIdx.y the sample, blockIdx.x a tile of
// blockDim.x·VEC consecutive columns; blockDim.x a multiple of 32 up to 1024 (wrappers use 128).
// Dynamic shared memory: ns floats (the stream's weights) then ns unsigned (the rows), 8·ns bytes.
// Each block recomputes its stream's softmax (N_s logits: cheaper than a second launch) and the
// tile-0 block writes it to `w`. A row width that is a multiple of VEC takes the 16-byte path (rows
// then start 16-byte aligned, the allocation being 256-byte aligned); any other width takes the
// element-wise path with the same summation order over k, so both give the same bits per element.
template <class T>
__device__ void convex_fwd_v2(float* __restrict__ f_t, float* __restrict__ f_s,
                              float* __restrict__ w, const float* __restrict__ logits,
                              const T* __restrict__ dict_t, const T* __restrict__ dict_s,
                              const unsigned* __restrict__ rows, int batch, int ns, int d_t,
                              int d_s) {
    constexpr int VEC = 16 / sizeof(T);
    extern __shared__ float convex_fwd_v2_smem[];
    const int b = blockIdx.y;
    const int stream = blockIdx.z;
    if (b >= batch) return;
    const int d = stream == 0 ? d_t : d_s;
    const T* dict = stream == 0 ? dict_t : dict_s;
    float* f = stream == 0 ? f_t : f_s;
    float* w_sh = convex_fwd_v2_smem;
    unsigned* r_sh = reinterpret_cast<unsigned*>(convex_fwd_v2_smem + ns);
    const int tid = threadIdx.x;
    const int nt = blockDim.x;

    convex_softmax(w_sh, logits + (size_t)b * 2 * ns + (size_t)stream * ns, ns);
    for (int k = tid; k < ns; k += nt) r_sh[k] = rows[(size_t)b * ns + k];
    if (blockIdx.x == 0) {
        float* w_out = w + (size_t)b * 2 * ns + (size_t)stream * ns;
        for (int k = tid; k < ns; k += nt) w_out[k] = w_sh[k];
    }
    __syncthreads();

    const int col0 = (blockIdx.x * nt + tid) * VEC;
    if (col0 >= d) return;  // past every barrier
    float acc[VEC];
#pragma unroll
    for (int j = 0; j < VEC; ++j) acc[j] = 0.0f;
    float* out = f + (size_t)b * d + col0;
    if (d % VEC == 0) {
        for (int k = 0; k < ns; ++k) {
            float v[VEC];
            load16(dict + (size_t)r_sh[k] * d + col0, v);
            const float wk = w_sh[k];
#pragma unroll
            for (int j = 0; j < VEC; ++j) acc[j] += wk * v[j];
        }
#pragma unroll
        for (int j = 0; j < VEC; j += 4)
            *reinterpret_cast<float4*>(out + j) = make_float4(acc[j], acc[j + 1], acc[j + 2], acc[j + 3]);
    } else {
        const int n = min(VEC, d - col0);
        for (int k = 0; k < ns; ++k) {
            const T* row = dict + (size_t)r_sh[k] * d + col0;
            const float wk = w_sh[k];
            for (int j = 0; j < n; ++j) acc[j] += wk * to_float(row[j]);
        }
        for (int j = 0; j < n; ++j) out[j] = acc[j];
    }
}

// Backward v2, *sample × stream* shape: gridDim = (batch, 2) with blockIdx.y the stream,
// blockDim.x a multiple of 32 up to 1024 (wrappers use 256). Dynamic shared memory: d floats (the
// sample's d_f of this stream, staged once so the warps do not re-read it from memory) then ns
// floats (g), (d + ns)·4 bytes. Warp j takes rows k = j, j + warps, …; its lanes take VEC columns
// at a time (16-byte loads when d is a multiple of VEC) and combine with a warp sum. The stream's
// half of the softmax backward then needs only its own g: d_logit[k] = w[k]·(g[k] − Σ_j w[j]·g[j]).
template <class T>
__device__ void convex_bwd_v2(float* __restrict__ d_logits, const float* __restrict__ w,
                              const float* __restrict__ d_f_t, const float* __restrict__ d_f_s,
                              const T* __restrict__ dict_t, const T* __restrict__ dict_s,
                              const unsigned* __restrict__ rows, int batch, int ns, int d_t,
                              int d_s) {
    constexpr int VEC = 16 / sizeof(T);
    extern __shared__ float convex_bwd_v2_smem[];
    const int b = blockIdx.x;
    const int stream = blockIdx.y;
    if (b >= batch) return;
    const int d = stream == 0 ? d_t : d_s;
    const T* dict = stream == 0 ? dict_t : dict_s;
    const float* df = (stream == 0 ? d_f_t : d_f_s) + (size_t)b * d;
    float* df_sh = convex_bwd_v2_smem;
    float* g_sh = convex_bwd_v2_smem + d;
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const int lane = tid & 31;
    const int warp = tid >> 5;
    const int n_warps = nt >> 5;

    for (int c = tid; c < d; c += nt) df_sh[c] = df[c];
    __syncthreads();
    // The loop bound is uniform within a warp, so every lane reaches the warp sum.
    for (int k = warp; k < ns; k += n_warps) {
        const T* row = dict + (size_t)rows[(size_t)b * ns + k] * d;
        float acc = 0.0f;
        if (d % VEC == 0) {
            for (int c = lane * VEC; c < d; c += 32 * VEC) {
                float v[VEC];
                load16(row + c, v);
#pragma unroll
                for (int j = 0; j < VEC; ++j) acc += df_sh[c + j] * v[j];
            }
        } else {
            for (int c = lane; c < d; c += 32) acc += df_sh[c] * to_float(row[c]);
        }
        acc = warp_sum(acc);
        if (lane == 0) g_sh[k] = acc;
    }
    __syncthreads();

    const float* wb = w + (size_t)b * 2 * ns + (size_t)stream * ns;
    float* out = d_logits + (size_t)b * 2 * ns + (size_t)stream * ns;
    float dot = 0.0f;
    for (int k = tid; k < ns; k += nt) dot += wb[k] * g_sh[k];
    dot = block_sum(dot);
    for (int k = tid; k < ns; k += nt) out[k] = wb[k] * (g_sh[k] - dot);
}

// Gather, *flat* shape: grid-stride over n·cols; out[i][c] = float(dict[rows[i]][c]). Any grid and
// block (wrappers use 256 threads).
template <class T>
__device__ void dict_gather(float* __restrict__ out, const T* __restrict__ dict,
                            const unsigned* __restrict__ rows, int n, int cols) {
    const size_t total = (size_t)n * cols;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const size_t r = i / cols;
        const size_t c = i - r * cols;
        out[i] = to_float(dict[(size_t)rows[r] * cols + c]);
    }
}

#define CONVEX_ENTRY_POINTS(SUFFIX, T)                                                            \
    extern "C" __global__ void convex_combine_fwd_##SUFFIX(                                      \
        float* f_t, float* f_s, float* w, const float* logits, const T* dict_t, const T* dict_s, \
        const unsigned* rows, int batch, int ns, int d_t, int d_s) {                              \
        convex_fwd<T>(f_t, f_s, w, logits, dict_t, dict_s, rows, batch, ns, d_t, d_s);           \
    }                                                                                             \
    extern "C" __global__ void convex_combine_bwd_##SUFFIX(                                      \
        float* d_logits, const float* w, const float* d_f_t, const float* d_f_s, const T* dict_t, \
        const T* dict_s, const unsigned* rows, int batch, int ns, int d_t, int d_s) {             \
        convex_bwd<T>(d_logits, w, d_f_t, d_f_s, dict_t, dict_s, rows, batch, ns, d_t, d_s);      \
    }                                                                                             \
    extern "C" __global__ void dict_gather_##SUFFIX(float* out, const T* dict,                   \
                                                    const unsigned* rows, int n, int cols) {      \
        dict_gather<T>(out, dict, rows, n, cols);                                                \
    }                                                                                             \
    extern "C" __global__ void convex_combine_fwd_v2_##SUFFIX(                                   \
        float* f_t, float* f_s, float* w, const float* logits, const T* dict_t, const T* dict_s, \
        const unsigned* rows, int batch, int ns, int d_t, int d_s) {                              \
        convex_fwd_v2<T>(f_t, f_s, w, logits, dict_t, dict_s, rows, batch, ns, d_t, d_s);        \
    }                                                                                             \
    extern "C" __global__ void convex_combine_bwd_v2_##SUFFIX(                                   \
        float* d_logits, const float* w, const float* d_f_t, const float* d_f_s, const T* dict_t, \
        const T* dict_s, const unsigned* rows, int batch, int ns, int d_t, int d_s) {             \
        convex_bwd_v2<T>(d_logits, w, d_f_t, d_f_s, dict_t, dict_s, rows, batch, ns, d_t, d_s);   \
    }

CONVEX_ENTRY_POINTS(f32, float)
CONVEX_ENTRY_POINTS(bf16, __nv_bfloat16)
CONVEX_ENTRY_POINTS(f16, __half)
