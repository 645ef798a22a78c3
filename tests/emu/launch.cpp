// Host launcher for the emulated kernels: `emu_<kernel>(grid, block, shared_bytes, args...)` runs
// kernel `<kernel>` of kernels/*.cu (compiled with cuda_emu.h) over the given grid, one block at a
// time, the block's threads as host threads. Built into a shared library by
// tests/kernels_emulated.rs; EMU_FAMILY_<name> is defined for each kernels/<name>.cu present.
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

// The dictionary element types (__nv_bfloat16, __half) of the kernel signatures.
#include "common.cuh"

namespace emu {

// Launches share the static `__shared__` variables and the thread-local index variables' meaning,
// so only one runs at a time in the process (the test harness runs tests on several threads).
static std::mutex launch_mutex;

static void run(dim3 grid, dim3 block, unsigned shared_bytes, const std::function<void()>& body) {
    std::lock_guard<std::mutex> guard(launch_mutex);
    const unsigned nt = block.x * block.y * block.z;
    if (nt == 0 || nt > 1024) {
        std::fprintf(stderr, "emu: invalid block of %u threads\n", nt);
        std::abort();
    }
    std::vector<unsigned char> dyn(shared_bytes + 16);
    const unsigned long long n_blocks = (unsigned long long)grid.x * grid.y * grid.z;

    // A pool of nt threads serves every block: `start` releases them into block i, `done` tells
    // the launching thread they have all left it, so it can set up block i + 1.
    std::barrier<> start(nt + 1), done(nt + 1);
    std::unique_ptr<Block> cur;
    uint3 cur_idx{0, 0, 0};
    bool finished = false;

    auto worker = [&](unsigned t) {
        threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
        blockDim = block;
        gridDim = grid;
        tl_lane = t % 32;
        tl_warp = t / 32;
        for (;;) {
            start.arrive_and_wait();
            if (finished) return;
            blockIdx = cur_idx;
            tl_block = cur.get();
            body();
            // A thread that has returned no longer takes part in barriers or warp exchanges.
            tl_block->sync.arrive_and_drop();
            tl_block->warps[tl_warp]->sync.arrive_and_drop();
            tl_block = nullptr;
            done.arrive_and_wait();
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(nt);
    for (unsigned t = 0; t < nt; ++t) pool.emplace_back(worker, t);
    for (unsigned long long i = 0; i < n_blocks; ++i) {
        cur = std::make_unique<Block>(nt);
        // Dynamic shared memory starts as NaN bytes, so a kernel that reads before writing fails.
        std::memset(dyn.data(), 0xff, dyn.size());
        cur->dyn_shared = dyn.data();
        cur_idx = {static_cast<unsigned>(i % grid.x), static_cast<unsigned>((i / grid.x) % grid.y),
                   static_cast<unsigned>(i / ((unsigned long long)grid.x * grid.y))};
        start.arrive_and_wait();
        done.arrive_and_wait();
    }
    finished = true;
    start.arrive_and_wait();
    for (auto& th : pool) th.join();
}

}  // namespace emu

#define EMU_PREPEND(...) (dim3 emu_grid, dim3 emu_block, unsigned emu_shared, __VA_ARGS__)
#define EMU_KERNEL(name, PARAMS, ARGS)                                                      \
    extern "C" void name PARAMS;                                                            \
    extern "C" void emu_##name EMU_PREPEND PARAMS {                                         \
        emu::run(emu_grid, emu_block, emu_shared, [&] { name ARGS; });                      \
    }

#ifdef EMU_FAMILY_elementwise
EMU_KERNEL(fill_f32, (float* y, float v, int n), (y, v, n))
EMU_KERNEL(axpy_f32, (float* y, const float* x, float alpha, int n), (y, x, alpha, n))
EMU_KERNEL(scale_f32, (float* y, const float* x, float alpha, int n), (y, x, alpha, n))
EMU_KERNEL(copy_cols_f32,
           (float* dst, int dst_cols, int dst_col0, const float* src, int src_cols, int src_col0,
            int width, int rows),
           (dst, dst_cols, dst_col0, src, src_cols, src_col0, width, rows))
EMU_KERNEL(gather_rows_f32, (float* out, const float* x, const unsigned* idx, int n, int cols),
           (out, x, idx, n, cols))
EMU_KERNEL(onehot_f32, (float* out, const unsigned* labels, int n, int classes),
           (out, labels, n, classes))
EMU_KERNEL(sum_scaled_f32, (float* out, const float* x, int n, float scale), (out, x, n, scale))
#endif

#ifdef EMU_FAMILY_layers
EMU_KERNEL(bias_act_fwd_f32,
           (float* y, const float* x, const float* bias, int rows, int cols, int act, float alpha),
           (y, x, bias, rows, cols, act, alpha))
EMU_KERNEL(act_bwd_f32, (float* dx, const float* y, const float* dy, int n, int act, float alpha),
           (dx, y, dy, n, act, alpha))
EMU_KERNEL(col_sum_f32, (float* out, const float* x, int rows, int cols), (out, x, rows, cols))
EMU_KERNEL(bn_fwd_train_f32,
           (float* y, float* xhat, float* inv_std, float* running_mean, float* running_var,
            const float* x, const float* gamma, const float* beta, int rows, int cols,
            float momentum, float eps),
           (y, xhat, inv_std, running_mean, running_var, x, gamma, beta, rows, cols, momentum, eps))
EMU_KERNEL(bn_fwd_infer_f32,
           (float* y, const float* x, const float* gamma, const float* beta,
            const float* running_mean, const float* running_var, int rows, int cols, float eps),
           (y, x, gamma, beta, running_mean, running_var, rows, cols, eps))
EMU_KERNEL(bn_bwd_f32,
           (float* dx, float* dgamma, float* dbeta, const float* dy, const float* xhat,
            const float* inv_std, const float* gamma, int rows, int cols),
           (dx, dgamma, dbeta, dy, xhat, inv_std, gamma, rows, cols))
#endif

#ifdef EMU_FAMILY_adam
EMU_KERNEL(adam_step_f32,
           (float* p, const float* g, float* m, float* v, int n, float lr, float beta1, float beta2,
            float eps, float c1, float c2),
           (p, g, m, v, n, lr, beta1, beta2, eps, c1, c2))
#endif

#ifdef EMU_FAMILY_losses
EMU_KERNEL(softmax_rows_f32, (float* y, const float* x, int rows, int cols), (y, x, rows, cols))
EMU_KERNEL(class_loss_f32,
           (float* loss_rows, float* dlogits, const float* logits, const unsigned* labels,
            const float* margins, int rows, int cols, int kind, float gamma, float s),
           (loss_rows, dlogits, logits, labels, margins, rows, cols, kind, gamma, s))
EMU_KERNEL(bce_logits_f32,
           (float* loss_rows, float* grad, const float* logits, const float* targets, int rows,
            int cols),
           (loss_rows, grad, logits, targets, rows, cols))
#endif

#ifdef EMU_FAMILY_lsgan
EMU_KERNEL(lsgan_d_f32, (float* loss_rows, float* grad, const float* d_out, float target, int n),
           (loss_rows, grad, d_out, target, n))
EMU_KERNEL(lsgan_g_f32,
           (float* loss_rows, float* d_q_logits, float* d_d_out, const float* q_logits,
            const float* d_out, const unsigned* labels, int rows, int classes, int majority,
            float lambda),
           (loss_rows, d_q_logits, d_d_out, q_logits, d_out, labels, rows, classes, majority,
            lambda))
#endif

#ifdef EMU_FAMILY_heatmap
EMU_KERNEL(heatmap_targets_f32,
           (float* out, const float* coords, const float* vis, int batch, int k, int grid,
            float sigma),
           (out, coords, vis, batch, k, grid, sigma))
EMU_KERNEL(heatmap_loss_f32,
           (float* loss_rows, float* grad, const float* pred, const float* target, const float* vis,
            int batch, int k, int grid2),
           (loss_rows, grad, pred, target, vis, batch, k, grid2))
#endif

#ifdef EMU_FAMILY_convex
#define EMU_CONVEX(SUFFIX, T)                                                                      \
    EMU_KERNEL(convex_combine_fwd_##SUFFIX,                                                        \
               (float* f_t, float* f_s, float* w, const float* logits, const T* dict_t,             \
                const T* dict_s, const unsigned* rows, int batch, int ns, int d_t, int d_s),        \
               (f_t, f_s, w, logits, dict_t, dict_s, rows, batch, ns, d_t, d_s))                    \
    EMU_KERNEL(convex_combine_bwd_##SUFFIX,                                                        \
               (float* d_logits, const float* w, const float* d_f_t, const float* d_f_s,            \
                const T* dict_t, const T* dict_s, const unsigned* rows, int batch, int ns, int d_t, \
                int d_s),                                                                           \
               (d_logits, w, d_f_t, d_f_s, dict_t, dict_s, rows, batch, ns, d_t, d_s))              \
    EMU_KERNEL(dict_gather_##SUFFIX, (float* out, const T* dict, const unsigned* rows, int n, int cols), \
               (out, dict, rows, n, cols))
EMU_CONVEX(f32, float)
EMU_CONVEX(bf16, __nv_bfloat16)
EMU_CONVEX(f16, __half)
#endif
