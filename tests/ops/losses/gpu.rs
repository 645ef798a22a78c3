//! The losses ops (`LossOps`: row softmax, the four classifier losses, visibility BCE) on
//! `CudaBackend` against the f64 CPU reference.

use crate::common::rand_labels;
use crate::gpu::{Pair, C, G, REDUCTION, SHAPES};
use convexgan::backend::prelude::*;
use convexgan::backend::ClassLoss;
use rand::Rng;

#[test]
fn softmax_rows() {
    let Some(mut p) = Pair::new(14) else { return };
    for (r, c) in SHAPES {
        // Large logits check the max subtraction.
        let (gx, cx) = p.rand(r, c, 30.0);
        p.close(
            &format!("softmax_rows {r}×{c}"),
            &p.g.softmax_rows(&gx).unwrap(),
            &p.c.softmax_rows(&cx).unwrap(),
            REDUCTION,
        );
    }
}

#[test]
fn class_losses() {
    let Some(mut p) = Pair::new(15) else { return };
    for (b, classes) in [(1, 3), (37, 10), (259, 70)] {
        let (gz, cz) = p.rand(b, classes, 3.0);
        let labels = rand_labels(&mut p.rng, b, classes);
        let (gl, cl) = p.idx(&labels);
        let (gm, cm) = p.rand_in(1, classes, 0.05, 0.5);
        let kinds: [(&str, ClassLoss<G>, ClassLoss<C>); 4] = [
            ("ce", ClassLoss::Ce, ClassLoss::Ce),
            ("mse", ClassLoss::Mse, ClassLoss::Mse),
            (
                "focal",
                ClassLoss::Focal { gamma: 2.0 },
                ClassLoss::Focal { gamma: 2.0 },
            ),
            (
                "ldam",
                ClassLoss::Ldam {
                    margins: &gm,
                    s: 30.0,
                },
                ClassLoss::Ldam {
                    margins: &cm,
                    s: 30.0,
                },
            ),
        ];
        for (name, gk, ck) in kinds {
            let (gloss, ggrad) = p.g.class_loss(&gz, &gl, gk).unwrap();
            let (closs, cgrad) = p.c.class_loss(&cz, &cl, ck).unwrap();
            p.close(&format!("{name} loss B={b}"), &gloss, &closs, REDUCTION);
            p.close(&format!("{name} grad B={b}"), &ggrad, &cgrad, REDUCTION);
        }
    }
}

#[test]
fn bce_logits() {
    let Some(mut p) = Pair::new(16) else { return };
    for (b, k) in [(1, 1), (37, 8), (259, 77)] {
        let (gz, cz) = p.rand(b, k, 6.0);
        let t: Vec<f64> = (0..b * k)
            .map(|_| f64::from(p.rng.gen_bool(0.5) as u8))
            .collect();
        let (gt, ct) = p.put(&t, b, k);
        let (gl, gg) = p.g.bce_logits(&gz, &gt).unwrap();
        let (cl, cg) = p.c.bce_logits(&cz, &ct).unwrap();
        p.close(&format!("bce loss {b}×{k}"), &gl, &cl, REDUCTION);
        p.close(&format!("bce grad {b}×{k}"), &gg, &cg, REDUCTION);
    }
}
