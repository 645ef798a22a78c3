//! Writes small VGG-shaped ONNX models: blocks of `Conv 3×3 (pad 1) → Relu`, a 2×2 max-pool
//! between blocks, and after the last block's ReLU (the stand-in for `conv5_3`) a max-pool, a
//! global average pool and a flatten, so that the default output has to be found inside the graph
//! as it is in a full torchvision export. Weights are He-initialised from a seed. Tests build their
//! backbones with this, and `convexgan make-backbone` lets a user without a download try the
//! DeepFashion recipe end to end.

use std::path::Path;

use prost::Message;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tract_onnx::pb;

use crate::error::Result;
use crate::internal::io::atomic::write as write_atomic;

#[derive(Clone, Debug, PartialEq)]
pub struct VggSpec {
    /// Output channels of each convolution, block by block.
    pub blocks: Vec<Vec<usize>>,
    pub seed: u64,
}

impl VggSpec {
    /// Three blocks of 8, 16 and 32 channels: 1/4 of VGG's spatial reduction stages, cheap enough
    /// for tests on two cores at 224×224.
    pub fn tiny(seed: u64) -> Self {
        VggSpec {
            blocks: vec![vec![8, 8], vec![16, 16], vec![32, 32]],
            seed,
        }
    }

    /// Name of the last block's last ReLU output (what [`super::graph::default_output`] finds).
    pub fn last_relu(&self) -> String {
        let b = self.blocks.len();
        format!("relu{b}_{}", self.blocks[b - 1].len())
    }
}

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A value with an element type of float and a shape whose dimensions are given, `None` meaning
/// a symbolic dimension (the batch).
pub fn value_info(name: &str, dims: &[Option<usize>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => Value::DimValue(*n as i64),
                None => Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Wraps a graph into a model at opset 13.
pub fn model(graph: pb::GraphProto) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: 7,
        producer_name: "convexgan".into(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// The model's protobuf, input `image` of shape `N × 3 × H × W` (any H, W).
pub fn vgg_model(spec: &VggSpec) -> pb::ModelProto {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut cur = "image".to_string();
    let mut c_in = 3usize;
    for (bi, block) in spec.blocks.iter().enumerate() {
        if bi > 0 {
            let out = format!("pool{bi}");
            nodes.push(node(
                "MaxPool",
                &out,
                &[&cur],
                &out,
                vec![
                    attr_ints("kernel_shape", &[2, 2]),
                    attr_ints("strides", &[2, 2]),
                ],
            ));
            cur = out;
        }
        for (ci, &c_out) in block.iter().enumerate() {
            let tag = format!("{}_{}", bi + 1, ci + 1);
            let (w, b) = (format!("conv{tag}.weight"), format!("conv{tag}.bias"));
            // He initialisation keeps activations from vanishing through the ReLUs.
            let std = (2.0 / (c_in * 9) as f64).sqrt();
            let normal = Normal::new(0.0, std).expect("positive std");
            let weights: Vec<f32> = (0..c_out * c_in * 9)
                .map(|_| normal.sample(&mut rng) as f32)
                .collect();
            let bias: Vec<f32> = (0..c_out)
                .map(|_| normal.sample(&mut rng) as f32 * 0.1)
                .collect();
            inits.push(float_tensor(&w, &[c_out, c_in, 3, 3], &weights));
            inits.push(float_tensor(&b, &[c_out], &bias));
            let conv = format!("conv{tag}");
            nodes.push(node(
                "Conv",
                &conv,
                &[&cur, &w, &b],
                &conv,
                vec![
                    attr_ints("kernel_shape", &[3, 3]),
                    attr_ints("pads", &[1, 1, 1, 1]),
                    attr_ints("strides", &[1, 1]),
                ],
            ));
            let relu = format!("relu{tag}");
            nodes.push(node("Relu", &relu, &[&conv], &relu, vec![]));
            cur = relu;
            c_in = c_out;
        }
    }
    // A head like a classifier's, so that the backbone output is not the graph's output.
    let pool = format!("pool{}", spec.blocks.len());
    nodes.push(node(
        "MaxPool",
        &pool,
        &[&cur],
        &pool,
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ],
    ));
    nodes.push(node("GlobalAveragePool", "gap", &[&pool], "gap", vec![]));
    nodes.push(node("Flatten", "flatten", &["gap"], "logits", vec![]));
    let graph = pb::GraphProto {
        name: "vgg_tiny".into(),
        node: nodes,
        initializer: inits,
        input: vec![value_info("image", &[None, Some(3), None, None])],
        output: vec![value_info("logits", &[None, Some(c_in)])],
        ..Default::default()
    };
    model(graph)
}

/// Writes the model of `spec` to `path` (atomically).
pub fn write_vgg(path: &Path, spec: &VggSpec) -> Result<()> {
    write_atomic(path, &vgg_model(spec).encode_to_vec())
}
