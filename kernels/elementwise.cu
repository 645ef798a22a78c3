// Elementwise family: fills, accumulation, scaling, column concat/split, row gather, one-hot, and the
// one-block reduction that turns per-row losses into the 1×1 batch loss.
//
// Every kernel except sum_scaled_f32 is *flat*: a 1-D grid-stride loop, correct for any grid and
// block (the wrappers use 256 threads). Sizes are ints; the wrappers keep every element count
// ≤ 2^30 so that flat indices and row·cols products fit in int.
#include "common.cuh"

// y[i] = v.
extern "C" __global__ void fill_f32(float* y, float v, int n) {
    GRID_STRIDE_LOOP(i, n) y[i] = v;
}

// y[i] += alpha·x[i] (fused multiply-add: one rounding). y and x must not overlap.
extern "C" __global__ void axpy_f32(float* y, const float* x, float alpha, int n) {
    GRID_STRIDE_LOOP(i, n) y[i] = fmaf(alpha, x[i], y[i]);
}

// y[i] = alpha·x[i].
extern "C" __global__ void scale_f32(float* y, const float* x, float alpha, int n) {
    GRID_STRIDE_LOOP(i, n) y[i] = alpha * x[i];
}

// Copies a rows × width block: dst[r, dst_col0 + c] = src[r, src_col0 + c]. Flat over rows·width;
// concat_cols launches it once per part, split_cols once per output.
extern "C" __global__ void copy_cols_f32(float* dst, int dst_cols, int dst_col0, const float* src,
                                         int src_cols, int src_col0, int width, int rows) {
    const int n = rows * width;
    GRID_STRIDE_LOOP(i, n) {
        const int r = i / width;
        const int c = i - r * width;
        dst[r * dst_cols + dst_col0 + c] = src[r * src_cols + src_col0 + c];
    }
}

// out[i, :] = x[idx[i], :]. Flat over n·cols; the wrapper has checked every idx < rows of x.
extern "C" __global__ void gather_rows_f32(float* out, const float* x, const unsigned* idx, int n,
                                           int cols) {
    const int total = n * cols;
    GRID_STRIDE_LOOP(i, total) {
        const int r = i / cols;
        const int c = i - r * cols;
        out[i] = x[(long long)idx[r] * cols + c];
    }
}

// out[i, j] = (labels[i] == j). Flat over n·classes; writes every element (zeros included).
extern "C" __global__ void onehot_f32(float* out, const unsigned* labels, int n, int classes) {
    const int total = n * classes;
    GRID_STRIDE_LOOP(i, total) {
        const int r = i / classes;
        const int c = i - r * classes;
        out[i] = labels[r] == (unsigned)c ? 1.0f : 0.0f;
    }
}

// out[0] = scale·Σ x[i]. One block (gridDim.x = 1), blockDim.x a multiple of 32 up to 1024: each
// thread sums a fixed strided subset in order, then block_sum combines them in a fixed order, so the
// result depends only on n and blockDim, never on scheduling (no atomics).
extern "C" __global__ void sum_scaled_f32(float* out, const float* x, int n, float scale) {
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) out[0] = scale * s;
}
