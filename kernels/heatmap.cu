// Heatmap family: Gaussian ground-truth landmark heatmaps and the landmark loss of METHOD.md §2, Eq. 1.
#include "common.cuh"

// *flat* shape: grid-stride over batch·k·grid² outputs (any grid and block; wrappers use 256).
// out[b][l·grid² + i·grid + j] = exp(−((j − x)² + (i − y)²) / (2σ²)) with (x, y) = coords[b][2l..]
// in grid cells (column, row; cell (i, j) sits at integer coordinates), peak 1; zero where
// vis[b][l] == 0 (any non-zero visibility counts as visible, as in the CPU reference).
extern "C" __global__ void heatmap_targets_f32(float* __restrict__ out,
                                               const float* __restrict__ coords,
                                               const float* __restrict__ vis, int batch, int k,
                                               int grid, float sigma) {
    const size_t g2 = (size_t)grid * grid;
    const size_t total = (size_t)batch * k * g2;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    const float inv_two_s2 = 1.0f / (2.0f * sigma * sigma);
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        const size_t map = e / g2;  // b·k + l
        const size_t cell = e - map * g2;
        const int i = (int)(cell / grid);
        const int j = (int)(cell - (size_t)i * grid);
        float v = 0.0f;
        if (vis[map] != 0.0f) {
            const float dx = (float)j - coords[2 * map];
            const float dy = (float)i - coords[2 * map + 1];
            v = expf(-(dx * dx + dy * dy) * inv_two_s2);
        }
        out[e] = v;
    }
}

// *row* shape, one block per sample: gridDim.x = batch, blockDim.x any multiple of 32 up to 1024
// (wrappers use 256); the block strides over the sample's k·grid2 values (k maps of grid2 cells).
// loss_rows[b] = Σ_l v_{b,l} Σ_cells (pred − target)², grad = 2·v·(pred − target)/batch; cells of
// invisible landmarks (v == 0) get a zero gradient whatever pred holds.
extern "C" __global__ void heatmap_loss_f32(float* __restrict__ loss_rows, float* __restrict__ grad,
                                            const float* __restrict__ pred,
                                            const float* __restrict__ target,
                                            const float* __restrict__ vis, int batch, int k,
                                            int grid2) {
    const int b = blockIdx.x;
    if (b >= batch) return;
    const size_t n = (size_t)k * grid2;
    const float* p = pred + (size_t)b * n;
    const float* t = target + (size_t)b * n;
    float* g = grad + (size_t)b * n;
    const float* vb = vis + (size_t)b * k;
    const float scale = 2.0f / (float)batch;
    float acc = 0.0f;
    for (size_t e = threadIdx.x; e < n; e += blockDim.x) {
        const float v = vb[e / grid2];
        float ge = 0.0f;
        if (v != 0.0f) {
            const float r = p[e] - t[e];
            acc += v * r * r;
            ge = scale * v * r;
        }
        g[e] = ge;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) loss_rows[b] = acc;
}
