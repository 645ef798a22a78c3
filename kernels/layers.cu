// Layers family: bias + activation and its backward, column sums (bias gradients), BatchNorm1d.
//
// *col* kernels: gridDim.x = ceil(cols / 32), blockDim = (32, 8) exactly. Thread x owns column
// blockIdx.x·32 + x; the 8 threads in y of that column stride over rows (row y, y+8, ...), then
// their 8 partial sums are combined in shared memory in the order y = 0..7, so results are
// deterministic. Threads past the last column take part in the barriers and write nothing.
#include "common.cuh"

#define COL_TILE 32
#define COL_ROWS 8

// act: 0 identity, 1 ReLU, 2 LeakyReLU(alpha). Same comparisons as the CPU reference.
__device__ __forceinline__ float activate(float v, int act, float alpha) {
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) return v > 0.0f ? v : alpha * v;
    return v;
}

// y = act(x + bias), bias (1 × cols) broadcast over rows, or act(x) when bias is null.
// Flat over rows·cols.
extern "C" __global__ void bias_act_fwd_f32(float* y, const float* x, const float* bias, int rows,
                                            int cols, int act, float alpha) {
    const int n = rows * cols;
    GRID_STRIDE_LOOP(i, n) {
        float v = x[i];
        if (bias != nullptr) v += bias[i % cols];
        y[i] = activate(v, act, alpha);
    }
}

// dx = dy · act'(pre-activation), recovered from the output y: y > 0 ⇔ pre-activation > 0 for ReLU
// and for LeakyReLU with alpha > 0 (the wrapper rejects alpha ≤ 0). Flat over n.
extern "C" __global__ void act_bwd_f32(float* dx, const float* y, const float* dy, int n, int act,
                                       float alpha) {
    const float slope = act == 2 ? alpha : 0.0f;
    GRID_STRIDE_LOOP(i, n) {
        const float g = dy[i];
        dx[i] = (act == 0 || y[i] > 0.0f) ? g : slope * g;
    }
}

// Sum over the 8 row-strided partials of this thread's column, in a fixed order; every thread of
// the column gets the same value. Called by all threads of the block (it has barriers).
__device__ __forceinline__ float col_combine(float v, float (*red)[COL_TILE]) {
    red[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < COL_ROWS; ++k) s += red[k][threadIdx.x];
    // red is reused by the next call.
    __syncthreads();
    return s;
}

// out[c] = Σ_r x[r, c]. Col shape.
extern "C" __global__ void col_sum_f32(float* out, const float* x, int rows, int cols) {
    __shared__ float red[COL_ROWS][COL_TILE];
    const int c = blockIdx.x * COL_TILE + threadIdx.x;
    float s = 0.0f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += COL_ROWS) s += x[r * cols + c];
    s = col_combine(s, red);
    if (c < cols && threadIdx.y == 0) out[c] = s;
}

// Training-mode BatchNorm1d. Col shape. Per column: two-pass batch mean and biased variance,
// xhat = (x − mean)·inv_std, y = gamma·xhat + beta, inv_std = 1/sqrt(var + eps); the running
// averages move by `momentum` toward the mean and the unbiased variance (PyTorch). Needs rows ≥ 2
// (checked by the wrapper).
extern "C" __global__ void bn_fwd_train_f32(float* y, float* xhat, float* inv_std,
                                            float* running_mean, float* running_var,
                                            const float* x, const float* gamma, const float* beta,
                                            int rows, int cols, float momentum, float eps) {
    __shared__ float red[COL_ROWS][COL_TILE];
    const int c = blockIdx.x * COL_TILE + threadIdx.x;
    const bool live = c < cols;

    float s = 0.0f;
    if (live)
        for (int r = threadIdx.y; r < rows; r += COL_ROWS) s += x[r * cols + c];
    const float mean = col_combine(s, red) / (float)rows;

    // Second pass over the deviations: no cancellation when |mean| ≫ std.
    float q = 0.0f;
    if (live)
        for (int r = threadIdx.y; r < rows; r += COL_ROWS) {
            const float d = x[r * cols + c] - mean;
            q += d * d;
        }
    const float var = col_combine(q, red) / (float)rows;
    const float istd = 1.0f / sqrtf(var + eps);

    if (!live) return;
    const float g = gamma[c];
    const float b = beta[c];
    for (int r = threadIdx.y; r < rows; r += COL_ROWS) {
        const float h = (x[r * cols + c] - mean) * istd;
        xhat[r * cols + c] = h;
        y[r * cols + c] = g * h + b;
    }
    if (threadIdx.y == 0) {
        inv_std[c] = istd;
        const float unbiased = var * ((float)rows / (float)(rows - 1));
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    }
}

// Inference-mode BatchNorm1d with the running averages, folded into one scale and shift per
// column: y = s·x + (beta − s·mean), s = gamma / sqrt(var + eps). Flat over rows·cols.
extern "C" __global__ void bn_fwd_infer_f32(float* y, const float* x, const float* gamma,
                                            const float* beta, const float* running_mean,
                                            const float* running_var, int rows, int cols,
                                            float eps) {
    const int n = rows * cols;
    GRID_STRIDE_LOOP(i, n) {
        const int c = i % cols;
        const float s = gamma[c] / sqrtf(running_var[c] + eps);
        y[i] = s * x[i] + (beta[c] - s * running_mean[c]);
    }
}

// BatchNorm1d backward through the batch statistics. Col shape. Per column:
// dbeta = Σ dy, dgamma = Σ dy·xhat, dx = gamma·inv_std/B · (B·dy − dbeta − xhat·dgamma).
extern "C" __global__ void bn_bwd_f32(float* dx, float* dgamma, float* dbeta, const float* dy,
                                      const float* xhat, const float* inv_std, const float* gamma,
                                      int rows, int cols) {
    __shared__ float red[COL_ROWS][COL_TILE];
    const int c = blockIdx.x * COL_TILE + threadIdx.x;
    const bool live = c < cols;

    float sb = 0.0f, sg = 0.0f;
    if (live)
        for (int r = threadIdx.y; r < rows; r += COL_ROWS) {
            const float g = dy[r * cols + c];
            sb += g;
            sg += g * xhat[r * cols + c];
        }
    const float db = col_combine(sb, red);
    const float dg = col_combine(sg, red);

    if (!live) return;
    const float bf = (float)rows;
    const float k = gamma[c] * inv_std[c] / bf;
    for (int r = threadIdx.y; r < rows; r += COL_ROWS) {
        const int i = r * cols + c;
        dx[i] = k * (bf * dy[i] - db - xhat[i] * dg);
    }
    if (threadIdx.y == 0) {
        dgamma[c] = dg;
        dbeta[c] = db;
    }
}
