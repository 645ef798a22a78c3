//! The numerical guards and the memory estimate as library calls.

use convexgan::backend::prelude::*;
use convexgan::backend::Cpu;
use convexgan::config::Config;
use convexgan::internal::memory::{estimate, Estimate};
use convexgan::nn::Param;
use convexgan::train::guard::{check_params, checked_means, read_losses, PendingLoss};

const GIB: f64 = (1u64 << 30) as f64;

#[test]
fn first_non_finite_loss_is_named_with_its_iteration() {
    let be = Cpu::<f32>::new();
    let t = |v: f32| be.upload(&[v], 1, 1).unwrap();
    let (a, b, c, d) = (t(0.5), t(f32::INFINITY), t(f32::NAN), t(1.0));
    let pending = [
        PendingLoss {
            iteration: 7,
            name: "q_real",
            value: &a,
        },
        PendingLoss {
            iteration: 7,
            name: "g",
            value: &d,
        },
        PendingLoss {
            iteration: 8,
            name: "g",
            value: &b,
        },
        PendingLoss {
            iteration: 9,
            name: "q_real",
            value: &c,
        },
    ];
    let e = read_losses(&be, "phase 2", &pending)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("phase 2 at iteration 8") && e.contains("loss 'g' is inf"),
        "{e}"
    );
    let ok = read_losses(&be, "phase 2", &pending[..2]).unwrap();
    assert_eq!(ok, vec![0.5, 1.0]);
}

#[test]
fn checked_means_reports_in_iteration_order_and_averages_in_order() {
    let be = Cpu::<f32>::new();
    let t = |v: f32| be.upload(&[v], 1, 1).unwrap();
    let q = [t(1.0), t(2.0), t(f32::NAN)];
    let a = [t(3.0), t(f32::NAN), t(4.0)];
    // Iteration 11 (a's second) goes bad before iteration 12 (q's third).
    let e = checked_means(&be, "phase 1", 10, &[("ce_q", &q), ("ce_a", &a)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("phase 1 at iteration 11: loss 'ce_a' is NaN"),
        "{e}"
    );
    let m = checked_means(&be, "phase 1", 1, &[("ce_q", &q[..2]), ("ce_a", &[])]).unwrap();
    assert_eq!(m, vec![("ce_q", 1.5)]);
}

#[test]
fn non_finite_parameter_is_named_with_the_window() {
    let be = Cpu::<f32>::new();
    let good = Param::new("g.0.weight", be.upload(&[1.0, 2.0], 1, 2).unwrap());
    let bad = Param::new("d.2.bias", be.upload(&[0.0, 0.0, f32::NAN], 1, 3).unwrap());
    check_params(&be, "phase 2", 50, 25, [&good]).unwrap();
    let e = check_params(&be, "phase 2", 50, 25, [&good, &bad])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("phase 2 at iteration 50")
            && e.contains("parameter 'd.2.bias' holds NaN at element 2")
            && e.contains("iterations 26 to 50"),
        "{e}"
    );
}

fn gib(e: &Estimate) -> f64 {
    e.total() / GIB
}

#[test]
fn memory_estimate_of_the_presets_is_plausible_and_grows_with_the_batch() {
    // The default run's peak RSS measures 331 MiB (`/usr/bin/time -v convexgan run`); the
    // estimate must be of that order (it overshoots a little by design), neither zero nor absurd.
    let e = estimate(&Config::fmnist());
    println!("fmnist: {:.3} GiB, {e:?}", gib(&e));
    assert!(
        (0.3..2.0).contains(&gib(&e)),
        "fmnist estimate {:.2} GiB: {e:?}",
        gib(&e)
    );
    let tiny = estimate(&Config::tiny());
    assert!(tiny.total() < e.total());
    let mut big = Config::fmnist();
    big.phase2.batch = 1 << 30;
    let eb = estimate(&big);
    assert!(gib(&eb) > 1000.0, "{:.1} GiB", gib(&eb));
    assert_eq!(eb.stage, "phase 2");
    assert!(eb.parts[0].0.contains("Phase 2 batch"), "{:?}", eb.parts);
}

#[test]
fn memory_estimate_of_absurd_sizes_does_not_overflow_and_is_refused() {
    let mut c = Config::fmnist();
    c.model.stream_widths = vec![usize::MAX, usize::MAX];
    c.model.g_hidden = vec![usize::MAX];
    c.phase2.ns = usize::MAX;
    c.data.class_counts = Some(vec![usize::MAX; 10]);
    let e = estimate(&c);
    assert!(e.total() > 1e30, "{e:?}");
    let err = convexgan::internal::memory::check(&Cpu::<f32>::new(), &c)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs about") && err.contains("GiB"), "{err}");
    convexgan::internal::memory::check(&Cpu::<f32>::new(), &Config::tiny()).unwrap();
}

#[test]
fn memory_parts_add_up_to_the_total_and_a_features_run_is_sized_by_its_file() {
    use convexgan::internal::memory::{estimate_for, DataShape, Place};
    let shapes = [
        DataShape::fashion_mnist(&Config::fmnist()),
        DataShape {
            classes: 50,
            d_in_t: 2048,
            d_in_s: Some(2048),
            train_counts: vec![300; 50],
            val: 1000,
            test: 4000,
            resident_bytes: 0.0,
        },
        DataShape::dictionaries_only(&[400, 30, 5]),
    ];
    for cfg in [Config::fmnist(), Config::paper(), Config::tiny()] {
        for shape in &shapes {
            let e = estimate_for(&cfg, shape);
            let sum = |p: Option<Place>| -> f64 {
                e.parts
                    .iter()
                    .filter(|x| p.is_none_or(|w| x.1 == w))
                    .map(|x| x.2)
                    .sum()
            };
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.max(1.0);
            assert!(close(sum(None), e.total()), "{e:?}");
            assert!(close(sum(Some(Place::Device)), e.device), "{e:?}");
            assert!(close(sum(Some(Place::Host)), e.host), "{e:?}");
        }
    }
    // Wider inputs cost more: a features file of 4096-wide vectors against 784 pixels.
    let mut wide = DataShape::fashion_mnist(&Config::fmnist());
    wide.d_in_t = 4096;
    wide.resident_bytes = 0.0;
    let narrow = DataShape {
        d_in_t: 784,
        ..wide.clone()
    };
    let cfg = Config::fmnist();
    assert!(estimate_for(&cfg, &wide).total() > estimate_for(&cfg, &narrow).total());
    // And a refusal lists parts that add up to what it says is needed.
    let mut huge = Config::tiny();
    huge.model.stream_widths = vec![100_000_000, 16];
    let err = convexgan::internal::memory::check_for(&Cpu::<f32>::new(), &huge, &shapes[1])
        .unwrap_err()
        .to_string();
    let gibs: Vec<f64> = err
        .split(" GiB")
        .filter_map(|s| s.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    // needed, available, then the listed parts.
    assert!(gibs.len() >= 4, "{err}");
    let listed: f64 = gibs[2..].iter().sum();
    assert!(
        (listed - gibs[0]).abs() <= 0.02 * gibs[0] + 0.05,
        "parts {listed} GiB vs total {} GiB: {err}",
        gibs[0]
    );
}
