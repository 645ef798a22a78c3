// Losses family: row softmax, the classifier losses (CE, MSE on softmax, focal, LDAM) and the
// visibility BCE on logits.
//
// All three kernels have the *row* shape: block r = row r (gridDim.x = rows), blockDim.x any
// multiple of 32 up to 1024 (wrappers use 32 for rows of ≤ 64 columns, else 256); the threads of a
// block stride over the row's columns and combine through the block reductions of common.cuh.
// Losses write one unscaled value per row to `loss_rows`; sum_scaled_f32 then applies the batch
// mean's 1/rows. Gradients already include that 1/rows.
#include "common.cuh"

// Max and log-sum-exp of one row; every thread of the block must call it.
struct RowLse {
    float max;
    float sum;  // Σ exp(x − max)
};

__device__ __forceinline__ RowLse row_lse(const float* x, int cols) {
    float m = NEG_INF_F;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, x[j]);
    m = block_max(m);
    float s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(x[j] - m);
    s = block_sum(s);
    return {m, s};
}

// y[r] = softmax(x[r]), stable: exponents are taken relative to the row maximum.
extern "C" __global__ void softmax_rows_f32(float* __restrict__ y, const float* __restrict__ x,
                                            int rows, int cols) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + (size_t)r * cols;
    float* yr = y + (size_t)r * cols;
    const RowLse l = row_lse(xr, cols);
    const float inv = 1.0f / l.sum;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = expf(xr[j] - l.max) * inv;
}

// kind: 0 CE, 1 MSE on softmax, 2 focal(gamma), 3 LDAM(margins, s). `margins` (1 × cols) is read
// only for LDAM and may be null otherwise. The logits the softmax sees are z, except for LDAM:
// s·(z − margins[c]·onehot(c)). Labels are < cols (checked by the wrapper).
// Per row, with p = softmax and c the label:
//   CE, LDAM: loss = −log p_c,                       d/dz' = p − onehot(c) (LDAM: times s)
//   MSE:      loss = Σ_j (p_j − onehot_j)²,          g = 2(p − onehot), d/dz = p ⊙ (g − <g, p>)
//   focal:    loss = −(1 − p_c)^γ log p_c,           d/dz = (dL/dp_c)·p_c·(onehot(c) − p)
// (the focal branch below says how it keeps 1 − p_c and log p_c accurate as p_c → 1).
extern "C" __global__ void class_loss_f32(float* __restrict__ loss_rows, float* __restrict__ dlogits,
                                          const float* __restrict__ logits,
                                          const unsigned* __restrict__ labels,
                                          const float* __restrict__ margins, int rows, int cols,
                                          int kind, float gamma, float s) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const float* z = logits + (size_t)r * cols;
    float* dz = dlogits + (size_t)r * cols;
    const int c = (int)labels[r];
    const bool ldam = kind == 3;
    const float margin = ldam ? margins[c] : 0.0f;
    const float scale = ldam ? s : 1.0f;
    const float inv_rows = 1.0f / (float)rows;

    // z'_j = scale·(z_j − margin·[j = c]); kept implicit so the row is read, not copied.
    float m = NEG_INF_F;
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        m = fmaxf(m, scale * (z[j] - (j == c ? margin : 0.0f)));
    m = block_max(m);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x)
        sum += expf(scale * (z[j] - (j == c ? margin : 0.0f)) - m);
    sum = block_sum(sum);
    const float inv_sum = 1.0f / sum;
    const float log_pc = scale * (z[c] - margin) - m - logf(sum);

    if (kind == 1) {
        float sq = 0.0f;
        float gp = 0.0f;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float p = expf(z[j] - m) * inv_sum;
            const float e = p - (j == c ? 1.0f : 0.0f);
            sq += e * e;
            gp += 2.0f * e * p;
        }
        sq = block_sum(sq);
        gp = block_sum(gp);
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float p = expf(z[j] - m) * inv_sum;
            const float g = 2.0f * (p - (j == c ? 1.0f : 0.0f));
            dz[j] = p * (g - gp) * inv_rows;
        }
        if (threadIdx.x == 0) loss_rows[r] = sq;
        return;
    }
    if (kind == 2) {
        // q = 1 − p_c summed from the other classes keeps its relative precision when p_c → 1
        // (1 − p_c would cancel); log p_c from log1p(−q) there, else from the log-softmax (right
        // when p_c underflows). r = log(p_c)/q → −1 as q → 0, so γ < 1 meets no ∞·0.
        float q = 0.0f;
        for (int j = threadIdx.x; j < cols; j += blockDim.x)
            if (j != c) q += expf(z[j] - m) * inv_sum;
        q = block_sum(q);
        const float logp = q < 0.5f ? log1pf(-q) : log_pc;
        const float ratio = q > 0.0f ? logp / q : -1.0f;
        const float qg = powf(q, gamma);
        const float pc = expf(z[c] - m) * inv_sum;
        // dL/dz_j = a·(δ_cj − p_j) with a = γ q^(γ−1) p_c log p_c − q^γ = γ q^γ r p_c − q^γ.
        const float a = gamma * qg * ratio * pc - qg;
        for (int j = threadIdx.x; j < cols; j += blockDim.x) {
            const float p = expf(z[j] - m) * inv_sum;
            dz[j] = (j == c ? a * q : -a * p) * inv_rows;
        }
        if (threadIdx.x == 0) loss_rows[r] = -qg * logp;
        return;
    }
    // CE and LDAM.
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const float p = expf(scale * (z[j] - (j == c ? margin : 0.0f)) - m) * inv_sum;
        dz[j] = scale * (p - (j == c ? 1.0f : 0.0f)) * inv_rows;
    }
    if (threadIdx.x == 0) loss_rows[r] = -log_pc;
}

// Per row, Σ_k BCE(x_k, t_k) with BCE = max(x, 0) − x·t + log1p(exp(−|x|)) (no overflow for any x);
// grad = (σ(x) − t) / rows, σ evaluated on the side where exp does not overflow.
extern "C" __global__ void bce_logits_f32(float* __restrict__ loss_rows, float* __restrict__ grad,
                                          const float* __restrict__ logits,
                                          const float* __restrict__ targets, int rows, int cols) {
    const int r = blockIdx.x;
    if (r >= rows) return;
    const float* x = logits + (size_t)r * cols;
    const float* t = targets + (size_t)r * cols;
    float* g = grad + (size_t)r * cols;
    const float inv_rows = 1.0f / (float)rows;
    float acc = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const float xj = x[j];
        const float e = expf(-fabsf(xj));
        acc += fmaxf(xj, 0.0f) - xj * t[j] + log1pf(e);
        const float sig = xj >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        g[j] = (sig - t[j]) * inv_rows;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) loss_rows[r] = acc;
}
