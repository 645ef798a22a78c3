// LSGAN family: the discriminator's and the generator's least-squares losses (METHOD.md §4, Eq. 4–5).
// Losses write one unscaled value per sample to `loss_rows` (sum_scaled_f32 applies the 1/B);
// gradients already include the 1/B of the batch mean.
#include "common.cuh"

// *flat* shape: grid-stride over the n = B outputs of D (any grid and block; wrappers use 256).
// loss_rows[i] = (target − D_i)², grad[i] = 2(D_i − target)/n.
extern "C" __global__ void lsgan_d_f32(float* __restrict__ loss_rows, float* __restrict__ grad,
                                       const float* __restrict__ d_out, float target, int n) {
    const float inv_n = 1.0f / (float)n;
    const int stride = gridDim.x * blockDim.x;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const float e = d_out[i] - target;
        loss_rows[i] = e * e;
        grad[i] = 2.0f * e * inv_n;
    }
}

// *row* shape: block b = sample b (gridDim.x = rows), blockDim.x any multiple of 32 up to 1024
// (wrappers use 32 for ≤ 64 classes, else 256). Fused with the softmax of Q's logits:
//   q = softmax(z_b), c = labels[b] (< classes, checked by the wrapper), m = majority,
//   loss_rows[b] = q_c² + Σ_{j ≠ c, j ≠ m} (1 − q_j)² + λ(1 − D_b)²,
//   with g_j = ∂/∂q_j of the first two terms (2q_c at c, −2(1 − q_j) on the sum's terms, 0 at m),
//   d_q_logits[b] = q ⊙ (g − <g, q>) / rows,  d_d_out[b] = −2λ(1 − D_b) / rows.
// `majority` may equal c or lie outside 0..classes; the sum simply skips j = c and j = m.
extern "C" __global__ void lsgan_g_f32(float* __restrict__ loss_rows, float* __restrict__ d_q_logits,
                                       float* __restrict__ d_d_out, const float* __restrict__ q_logits,
                                       const float* __restrict__ d_out,
                                       const unsigned* __restrict__ labels, int rows, int classes,
                                       int majority, float lambda) {
    const int b = blockIdx.x;
    if (b >= rows) return;
    const float* z = q_logits + (size_t)b * classes;
    float* dz = d_q_logits + (size_t)b * classes;
    const int c = (int)labels[b];
    const float inv_rows = 1.0f / (float)rows;

    float m = NEG_INF_F;
    for (int j = threadIdx.x; j < classes; j += blockDim.x) m = fmaxf(m, z[j]);
    m = block_max(m);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < classes; j += blockDim.x) sum += expf(z[j] - m);
    sum = block_sum(sum);
    const float inv_sum = 1.0f / sum;

    float loss = 0.0f;
    float gq = 0.0f;
    for (int j = threadIdx.x; j < classes; j += blockDim.x) {
        const float q = expf(z[j] - m) * inv_sum;
        float g = 0.0f;
        if (j == c) {
            loss += q * q;
            g = 2.0f * q;
        } else if (j != majority) {
            loss += (1.0f - q) * (1.0f - q);
            g = -2.0f * (1.0f - q);
        }
        gq += g * q;
    }
    loss = block_sum(loss);
    gq = block_sum(gq);
    for (int j = threadIdx.x; j < classes; j += blockDim.x) {
        const float q = expf(z[j] - m) * inv_sum;
        const float g = j == c ? 2.0f * q : (j != majority ? -2.0f * (1.0f - q) : 0.0f);
        dz[j] = q * (g - gq) * inv_rows;
    }
    if (threadIdx.x == 0) {
        const float e = 1.0f - d_out[b];
        loss_rows[b] = loss + lambda * e * e;
        d_d_out[b] = -2.0f * lambda * e * inv_rows;
    }
}
