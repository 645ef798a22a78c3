//! How the cost of one Phase 2 iteration grows with the work: iteration time and peak memory as
//! the class count `N_C`, the rows per sample `N_s`, the feature width `d = d_t + d_s` and the
//! dictionary rows per class grow, one at a time from a base point, on the CPU backend (f32).
//!
//! Each point runs in a child process of this binary, so that its peak resident memory (`VmHWM`)
//! is its own: the child builds the dictionary and the game, resets the high-water mark, runs
//! warm-up and timed iterations, and reports the median iteration time, its peak RSS and the RSS
//! it started from. Beside the peak the table prints `internal::memory`'s estimate of the Phase 2
//! stage for the same configuration (what `convexgan phase2` checks before it allocates), and per
//! axis the growth exponent `k` of `time ∝ x^k` and `memory ∝ x^k` between its first and last
//! points.
//!
//! `cargo bench --bench scaling`; `CONVEXGAN_SCALING_ITERS` timed iterations per point (default 15).

mod support;

use std::time::Instant;

use convexgan::backend::Cpu;
use convexgan::internal::memory::{estimate_for, DataShape};
use convexgan::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use support::sizes::{Phase2Fixture, Size};

/// The base point every axis starts from: the `fmnist` preset's widths (d = 256, N_s = 30) on 10
/// classes of 500 dictionary rows.
const BASE: Point = Point {
    classes: 10,
    ns: 30,
    d: 256,
    rows: 500,
};

/// The point of an axis at one value.
type AlongAxis = fn(usize) -> Point;

const CHILD_ENV: &str = "CONVEXGAN_SCALING_POINT";

#[derive(Clone, Copy, Debug)]
struct Point {
    classes: usize,
    ns: usize,
    /// `d_t + d_s`; each stream `d / 2`.
    d: usize,
    /// Dictionary rows of every class.
    rows: usize,
}

impl Point {
    fn encode(&self) -> String {
        format!("{},{},{},{}", self.classes, self.ns, self.d, self.rows)
    }

    fn decode(s: &str) -> Option<Self> {
        let v: Vec<usize> = s
            .split(',')
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let [classes, ns, d, rows] = v[..] else {
            return None;
        };
        Some(Point {
            classes,
            ns,
            d,
            rows,
        })
    }

    /// The benchmark size of this point: the `fmnist` preset with these widths, every class
    /// holding exactly `rows` dictionary rows and training counts `rows + (N_C − 1 − c)` (an
    /// imbalance, so that `c_g` has a minority to draw, that leaves the dictionary sizes equal).
    fn size(&self) -> Size {
        let mut s = Size::fmnist();
        s.name = "scaling";
        s.classes = self.classes;
        s.cfg.phase2.ns = self.ns;
        s.cfg.model.stream_widths = vec![self.d / 2];
        s.cfg.dict.max_rows_per_class = self.rows;
        s.counts = (0..self.classes)
            .map(|c| self.rows + (self.classes - 1 - c))
            .collect();
        s.dict_cap = self.rows;
        s
    }
}

/// `VmRSS` and `VmHWM` of this process, in bytes.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb * 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child: one point, printed as `time_s peak_bytes start_bytes`.
fn child(p: Point) -> Result<()> {
    let (start, _) = rss();
    let be = Cpu::<f32>::new();
    let size = p.size();
    let fx = Phase2Fixture::new(&be, &size)?;
    let ctx = fx.ctx(&be, &size)?;
    let mut game = size.game(&be, &fx.dict, 3)?;
    // The fixture's temporaries (the random rows before they became the dictionary) are not
    // Phase 2's: the high-water mark starts again from what is resident now.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let lr = size.cfg.phase2.lr.at(0);
    for _ in 0..3 {
        game.step(&be, &ctx, &mut rng, lr)?;
    }
    let iters: usize = std::env::var("CONVEXGAN_SCALING_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        game.step(&be, &ctx, &mut rng, lr)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (_, peak) = rss();
    println!("{} {} {}", times[times.len() / 2], peak, start);
    Ok(())
}

struct Measured {
    time: f64,
    peak: f64,
    start: f64,
    estimate: f64,
}

fn measure(p: Point) -> std::result::Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env(CHILD_ENV, p.encode())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [time, peak, start] = v[..] else {
        return Err(format!("unexpected child output {line:?}"));
    };
    let size = p.size();
    let est = estimate_for(&size.cfg, &DataShape::dictionaries_only(&size.counts));
    Ok(Measured {
        time,
        peak,
        start,
        estimate: est.total(),
    })
}

/// `k` of `y ∝ x^k` through the first and last points.
fn exponent(x: &[f64], y: &[f64]) -> f64 {
    let (n, m) = (x.len() - 1, y.len() - 1);
    (y[m] / y[0]).ln() / (x[n] / x[0]).ln()
}

fn main() {
    convexgan::backend::cpu::use_all_cores();
    if let Ok(p) = std::env::var(CHILD_ENV) {
        let p = Point::decode(&p).expect("a point");
        if let Err(e) = child(p) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo bench` passes --bench; a filter argument is not used.
    let axes: [(&str, Vec<usize>, AlongAxis); 4] = [
        ("N_C", vec![10, 100, 1000], |v| Point { classes: v, ..BASE }),
        ("N_s", vec![10, 30, 100, 200], |v| Point { ns: v, ..BASE }),
        ("d", vec![256, 1024, 4096], |v| Point { d: v, ..BASE }),
        ("rows/class", vec![100, 500, 2000], |v| Point {
            rows: v,
            ..BASE
        }),
    ];
    println!(
        "Phase 2 iteration on the CPU backend (f32, {} threads), B = 256; base point N_C = {}, \
         N_s = {}, d = {}, {} rows per class",
        convexgan::backend::cpu::parallel::threads(),
        BASE.classes,
        BASE.ns,
        BASE.d,
        BASE.rows
    );
    println!(
        "\n| Axis | Value | ms / iteration | Peak RSS (MB) | Above start (MB) | Estimate (MB) | Estimate ÷ above start |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut growth = Vec::new();
    for (axis, values, point) in axes {
        let mut xs = Vec::new();
        let mut ts = Vec::new();
        let mut ms = Vec::new();
        for &v in &values {
            match measure(point(v)) {
                Ok(m) => {
                    let above = m.peak - m.start;
                    println!(
                        "| {axis} | {v} | {:.2} | {:.0} | {:.0} | {:.0} | {:.2} |",
                        m.time * 1e3,
                        m.peak / 1e6,
                        above / 1e6,
                        m.estimate / 1e6,
                        m.estimate / above
                    );
                    xs.push(v as f64);
                    ts.push(m.time);
                    ms.push(above);
                }
                Err(e) => println!("| {axis} | {v} | failed: {} |", e.trim()),
            }
        }
        if xs.len() >= 2 {
            growth.push((axis, exponent(&xs, &ts), exponent(&xs, &ms)));
        }
    }
    println!("\n| Axis | time ∝ x^k | memory above start ∝ x^k |");
    println!("| --- | ---: | ---: |");
    for (axis, kt, km) in growth {
        println!("| {axis} | {kt:.2} | {km:.2} |");
    }
}
