//! The CPU backend's threads, one rayon pool for every op, the matrix products included (their
//! pieces, `cpu::matmul`): `MATMUL_NUM_THREADS` threads when set (the variable keeps the name
//! `matrixmultiply`'s own pool read, as before), else every CPU the process may use. Work is split
//! by whole output rows (columns for some products), and each is computed by one thread in the
//! same order whatever the split, so results are bit-identical for any thread count.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Below this many output elements an op runs on the calling thread: handing it to the pool
/// costs more than it saves.
const MIN_PARALLEL_ELEMENTS: usize = 1 << 14;

/// Threads of the pool: `MATMUL_NUM_THREADS` when set, else every CPU the process may use.
pub fn threads() -> usize {
    pool().current_num_threads()
}

fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let n = std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1);
        let builder = || {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("convexgan-cpu-{i}"))
        };
        // The thread that first needs the pool (the training loop's) is one of its threads: an op
        // it splits then starts at once on it, where a pool of its own threads only would wake
        // one for every op and put the caller to sleep until the last piece is done, twice a
        // thread hand-over per op (a few hundred per Phase 2 iteration). A thread already in
        // another rayon pool cannot join this one; it gets a pool of separate threads.
        builder()
            .use_current_thread()
            .build()
            .or_else(|_| builder().build())
            .expect("a thread pool")
    })
}

/// Calls `f(first_row, rows)` over `out`, a row-major matrix with rows of `row_len` elements, in
/// chunks of whole rows spread over the pool (or at once on this thread when the matrix is
/// small). `work_per_row` is the op's cost of a row in element operations, which decides.
/// Nothing is called when rows are empty (`row_len` 0).
pub fn for_rows<T: Send>(
    out: &mut [T],
    row_len: usize,
    work_per_row: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if row_len == 0 {
        // Rows of no elements (a stream of width 0, as a one-stream sampler has): nothing to do.
        return;
    }
    let rows = out.len() / row_len;
    let pool = pool();
    let n = pool.current_num_threads();
    if n <= 1 || rows < 2 || rows.saturating_mul(work_per_row) < MIN_PARALLEL_ELEMENTS {
        f(0, out);
        return;
    }
    // A few chunks per thread, so one slow chunk does not leave the others idle.
    let per_chunk = rows.div_ceil(4 * n).max(1);
    pool.install(|| {
        out.par_chunks_mut(per_chunk * row_len)
            .enumerate()
            .for_each(|(i, chunk)| f(i * per_chunk, chunk));
    });
}

/// How many elements each parallel piece of an element-wise op over `n` elements should take,
/// or `None` when the op should run on the calling thread (too small to split, or one thread).
pub fn chunk_for(n: usize) -> Option<usize> {
    let threads = pool().current_num_threads();
    (threads > 1 && n >= MIN_PARALLEL_ELEMENTS).then(|| n.div_ceil(4 * threads).max(1))
}

/// Runs `f` on the pool (rayon's parallel iterators inside it use the pool's threads).
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// `<a, b>` with eight independent partial sums, so that it vectorises (a single running sum
/// is a chain the compiler must keep in order). The order is fixed, so the result is too.
pub fn dot<T: num_traits::Float + std::iter::Sum>(a: &[T], b: &[T]) -> T {
    const L: usize = 8;
    let mut acc = [T::zero(); L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..L {
            acc[l] = acc[l] + x[l] * y[l];
        }
    }
    let mut tail = T::zero();
    for (&x, &y) in ra.iter().zip(rb) {
        tail = tail + x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_each_visited_once_whatever_the_split() {
        let (rows, cols) = (1000, 37);
        let mut out = vec![0u64; rows * cols];
        for_rows(&mut out, cols, 1 << 10, |first, chunk| {
            for (i, row) in chunk.chunks_mut(cols).enumerate() {
                for (j, v) in row.iter_mut().enumerate() {
                    *v += ((first + i) * cols + j) as u64;
                }
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u64));
    }

    #[test]
    fn the_dot_product_is_exact_on_integers_and_close_on_reals() {
        let a: Vec<f64> = (0..1003).map(|i| (i % 7) as f64).collect();
        let b: Vec<f64> = (0..1003).map(|i| (i % 5) as f64 - 2.0).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
        let a: Vec<f32> = (0..513).map(|i| (i as f32 * 0.37).sin()).collect();
        let want: f64 = a.iter().map(|&x| x as f64 * x as f64).sum();
        assert!((dot(&a, &a) as f64 - want).abs() < 1e-4 * want);
    }
}
