// Host launcher for the emulated kernels: `emu_<kernel>(grid, block, shared_bytes, args...)` runs
// kernel `<kernel>` of kernels/*.cu (compiled with cuda_emu.h) over the given grid, one block at a
// time, the block's threads as host threads. tests/ops/emulation.rs builds each family as one
// translation unit: the family's .cu file, this file, then an EMU_KERNEL line per entry point.
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

// The EMU_KERNEL lines themselves are generated from src/backend/kernel_abi.rs (one declaration
// per entry point) and appended after this file by tests/ops/emulation.rs.
