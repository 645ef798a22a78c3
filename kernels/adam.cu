// Adam family: one bias-corrected update (Kingma & Ba 2015, Algorithm 1), in place.
#include "common.cuh"

// Flat over n. c1 = 1 − β1^t and c2 = 1 − β2^t come from the host (computed in f64 there), so
// the kernel needs no step count. Same operation order as the CPU reference:
//   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − lr·(m/c1) / (sqrt(v/c2) + eps).
extern "C" __global__ void adam_step_f32(float* p, const float* g, float* m, float* v, int n,
                                         float lr, float beta1, float beta2, float eps, float c1,
                                         float c2) {
    GRID_STRIDE_LOOP(i, n) {
        const float gi = g[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * (mi / c1) / (sqrtf(vi / c2) + eps);
    }
}
