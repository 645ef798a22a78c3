//! Shared by tests/data/backbone_chain.rs and tests/data/gpu_backbone.rs: the ONNX project's node test cases
//! (Debian's `libonnx-testdata`), turned into single-input models, and small random VGG-shaped
//! models written with tract's protobuf types.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use convexgan::internal::backbone::graph;
use prost::Message;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tract_onnx::pb;

pub const NODE_DATA: &str = "/usr/share/libonnx-testdata/data/node";

/// The node test data directory; a missing one fails the test (it is installed by setup and CI).
/// `CONVEXGAN_ONNX_NODE_DATA` points elsewhere: the GPU machine gets a copy in the carried bundle.
pub fn node_data() -> PathBuf {
    let dir = std::env::var_os("CONVEXGAN_ONNX_NODE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(NODE_DATA));
    assert!(
        dir.is_dir(),
        "{} is missing: the ONNX node test cases come from Debian's libonnx-testdata; \
         run `bash scripts/setup.sh` to install it",
        dir.display()
    );
    dir
}

/// Values and dims of a serialized `TensorProto` (float32 only).
pub fn read_tensor(path: &Path) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t = pb::TensorProto::decode(bytes.as_slice())
        .unwrap_or_else(|e| panic!("{}: not a TensorProto: {e}", path.display()));
    let v = graph::tensor_f32(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    assert_eq!(
        v.len(),
        dims.iter().product::<usize>(),
        "{}",
        path.display()
    );
    (v, dims)
}

/// Names of the node test cases starting with `prefix`, sorted.
pub fn cases(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(node_data())
        .expect("read the node test directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// One node test case, baked (see [`bake`]: the weights of Conv and BatchNormalization are graph
/// inputs there), with its input and expected output.
pub struct NodeCase {
    pub name: String,
    /// The model with one input, in a temporary directory.
    pub path: PathBuf,
    pub output: String,
    pub input: Vec<f32>,
    pub input_dims: Vec<usize>,
    pub expected: Vec<f32>,
    pub expected_dims: Vec<usize>,
}

/// Writes node test case `name` to `dir` with every graph input after the first turned into an
/// initializer from its `input_k.pb`; returns the path and the graph's first output.
pub fn bake(name: &str, dir: &Path) -> (PathBuf, String) {
    let case = node_data().join(name);
    let mut model = graph::read_model(&case.join("model.onnx")).unwrap_or_else(|e| panic!("{e}"));
    let data = case.join("test_data_set_0");
    let g = model.graph.as_mut().expect("read_model checks the graph");
    let inputs: Vec<String> = g.input.iter().map(|v| v.name.clone()).collect();
    for (k, input) in inputs.iter().enumerate().skip(1) {
        let (values, dims) = read_tensor(&data.join(format!("input_{k}.pb")));
        g.initializer.push(float_tensor(input, &dims, &values));
    }
    g.input.truncate(1);
    let output = g.output[0].name.clone();
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, model.encode_to_vec()).expect("write the baked model");
    (path, output)
}

impl NodeCase {
    pub fn load(name: &str, dir: &Path) -> NodeCase {
        let (path, output) = bake(name, dir);
        let data = node_data().join(name).join("test_data_set_0");
        let (input, input_dims) = read_tensor(&data.join("input_0.pb"));
        let (expected, expected_dims) = read_tensor(&data.join("output_0.pb"));
        NodeCase {
            name: name.to_string(),
            path,
            output,
            input,
            input_dims,
            expected,
            expected_dims,
        }
    }

    /// `(n, [c, h, w])` of a 4-D input; a 3-D one is one sample (only element-wise chains may
    /// take it that way).
    pub fn nchw(&self) -> Option<(usize, [usize; 3])> {
        match self.input_dims[..] {
            [n, c, h, w] => Some((n, [c, h, w])),
            [c, h, w] => Some((1, [c, h, w])),
            _ => None,
        }
    }

    pub fn chain(&self) -> convexgan::Result<graph::Chain> {
        let model = graph::read_model(&self.path)?;
        graph::chain_to(&model, &self.output, &self.path)
    }
}

/// The error `chain_to` gives for a node test case the chain must reject.
pub fn chain_error(name: &str, dir: &Path) -> String {
    let (path, output) = bake(name, dir);
    let model = graph::read_model(&path).unwrap_or_else(|e| panic!("{e}"));
    match graph::chain_to(&model, &output, &path) {
        Ok(c) => panic!("{name}: expected chain_to to reject the model, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing models with tract's protobuf types.

pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> pb::TensorProto {
    assert_eq!(dims.iter().product::<usize>(), values.len(), "{name}");
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: 1,
        float_data: values.to_vec(),
        ..Default::default()
    }
}

pub enum A {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
}

pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<A>,
) -> pb::NodeProto {
    use pb::attribute_proto::AttributeType;
    let attribute = attrs
        .into_iter()
        .map(|a| match a {
            A::Int(n, i) => pb::AttributeProto {
                name: n.into(),
                r#type: AttributeType::Int as i32,
                i,
                ..Default::default()
            },
            A::Ints(n, ints) => pb::AttributeProto {
                name: n.into(),
                r#type: AttributeType::Ints as i32,
                ints,
                ..Default::default()
            },
            A::Float(n, f) => pb::AttributeProto {
                name: n.into(),
                r#type: AttributeType::Float as i32,
                f,
                ..Default::default()
            },
        })
        .collect();
    pb::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: name.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Value::DimValue(d as i64)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An opset-13 model with one float input `x` of `input_dims` and one output.
pub fn model(
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    input_dims: &[usize],
    output: &str,
) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "test".into(),
            node: nodes,
            initializer: inits,
            input: vec![value_info("x", input_dims)],
            output: vec![pb::ValueInfoProto {
                name: output.into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn write_model(m: &pb::ModelProto, path: &Path) {
    std::fs::write(path, m.encode_to_vec()).expect("write the model");
}

/// `n` values uniform in `[-scale, scale)`.
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// Conv weights (He-scaled so activations stay O(1)), bias, and the initializers for them.
fn conv_inits(
    rng: &mut ChaCha8Rng,
    name: &str,
    [o, i, kh, kw]: [usize; 4],
    bias: bool,
) -> Vec<pb::TensorProto> {
    let scale = (6.0 / (i * kh * kw) as f32).sqrt();
    let mut v = vec![float_tensor(
        &format!("{name}.w"),
        &[o, i, kh, kw],
        &uniform(rng, o * i * kh * kw, scale),
    )];
    if bias {
        v.push(float_tensor(
            &format!("{name}.b"),
            &[o],
            &uniform(rng, o, 0.5),
        ));
    }
    v
}

fn bn_inits(rng: &mut ChaCha8Rng, name: &str, c: usize) -> Vec<pb::TensorProto> {
    let var: Vec<f32> = (0..c).map(|_| rng.gen_range(0.2..2.0)).collect();
    let scale: Vec<f32> = (0..c).map(|_| rng.gen_range(0.5..1.5)).collect();
    vec![
        float_tensor(&format!("{name}.s"), &[c], &scale),
        float_tensor(&format!("{name}.b"), &[c], &uniform(rng, c, 0.5)),
        float_tensor(&format!("{name}.m"), &[c], &uniform(rng, c, 0.5)),
        float_tensor(&format!("{name}.v"), &[c], &var),
    ]
}

pub const VGG_INPUT: [usize; 4] = [2, 3, 20, 20];

/// Conv 3×3 pad 1 + bias, Relu, MaxPool 2×2 s2, BatchNorm, AveragePool 3×3 pad 1 (padding not
/// counted), Conv 3×3 stride 2, Relu, GlobalAveragePool, Flatten; random weights. Output `y`.
pub fn vgg_like(rng: &mut ChaCha8Rng) -> pb::ModelProto {
    let mut inits = conv_inits(rng, "c1", [8, 3, 3, 3], true);
    inits.extend(bn_inits(rng, "bn", 8));
    inits.extend(conv_inits(rng, "c2", [6, 8, 3, 3], true));
    let nodes = vec![
        node(
            "Conv",
            "conv1",
            &["x", "c1.w", "c1.b"],
            &["a1"],
            vec![
                A::Ints("kernel_shape", vec![3, 3]),
                A::Ints("pads", vec![1, 1, 1, 1]),
            ],
        ),
        node("Relu", "relu1", &["a1"], &["a2"], vec![]),
        node(
            "MaxPool",
            "pool1",
            &["a2"],
            &["a3"],
            vec![
                A::Ints("kernel_shape", vec![2, 2]),
                A::Ints("strides", vec![2, 2]),
            ],
        ),
        node(
            "BatchNormalization",
            "bn1",
            &["a3", "bn.s", "bn.b", "bn.m", "bn.v"],
            &["a4"],
            vec![A::Float("epsilon", 1e-3)],
        ),
        node(
            "AveragePool",
            "avg1",
            &["a4"],
            &["a5"],
            vec![
                A::Ints("kernel_shape", vec![3, 3]),
                A::Ints("pads", vec![1, 1, 1, 1]),
                A::Int("count_include_pad", 0),
            ],
        ),
        node(
            "Conv",
            "conv2",
            &["a5", "c2.w", "c2.b"],
            &["a6"],
            vec![A::Ints("strides", vec![2, 2])],
        ),
        node("Relu", "relu2", &["a6"], &["a7"], vec![]),
        node("GlobalAveragePool", "gap", &["a7"], &["a8"], vec![]),
        node("Flatten", "flat", &["a8"], &["y"], vec![A::Int("axis", 1)]),
    ];
    model(nodes, inits, &VGG_INPUT, "y")
}

pub const ODD_INPUT: [usize; 4] = [3, 4, 13, 11];

/// The windows cuDNN cannot take directly: a grouped, dilated, strided Conv with asymmetric pads
/// (and no bias), a dilated MaxPool with asymmetric pads, an AveragePool with asymmetric pads
/// counting and one not counting them, then a BatchNorm with a tiny epsilon. Output `y`.
pub fn odd_windows(rng: &mut ChaCha8Rng) -> pb::ModelProto {
    let mut inits = conv_inits(rng, "c1", [6, 2, 3, 2], false);
    inits.extend(bn_inits(rng, "bn", 6));
    let nodes = vec![
        node(
            "Conv",
            "conv1",
            &["x", "c1.w"],
            &["a1"],
            vec![
                A::Int("group", 2),
                A::Ints("dilations", vec![2, 1]),
                A::Ints("strides", vec![1, 2]),
                A::Ints("pads", vec![1, 0, 2, 1]),
            ],
        ),
        node(
            "MaxPool",
            "pool1",
            &["a1"],
            &["a2"],
            vec![
                A::Ints("kernel_shape", vec![2, 3]),
                A::Ints("dilations", vec![2, 1]),
                A::Ints("pads", vec![0, 1, 1, 2]),
            ],
        ),
        node(
            "AveragePool",
            "avg1",
            &["a2"],
            &["a3"],
            vec![
                A::Ints("kernel_shape", vec![3, 2]),
                A::Ints("pads", vec![2, 0, 1, 1]),
                A::Int("count_include_pad", 1),
            ],
        ),
        node(
            "AveragePool",
            "avg2",
            &["a3"],
            &["a4"],
            vec![
                A::Ints("kernel_shape", vec![2, 3]),
                A::Ints("strides", vec![2, 1]),
                A::Ints("pads", vec![1, 2, 0, 1]),
                A::Int("count_include_pad", 0),
            ],
        ),
        node(
            "BatchNormalization",
            "bn1",
            &["a4", "bn.s", "bn.b", "bn.m", "bn.v"],
            &["y"],
            vec![A::Float("epsilon", 1e-7)],
        ),
    ];
    model(nodes, inits, &ODD_INPUT, "y")
}

/// The ONNX node test cases the chain executes, and those it must reject (with a word the error
/// must contain).
pub fn supported_cases() -> Vec<String> {
    let mut v = vec![
        "test_basic_conv_with_padding".to_string(),
        "test_basic_conv_without_padding".to_string(),
        "test_relu".to_string(),
        "test_globalaveragepool".to_string(),
        "test_batchnorm_example".to_string(),
        "test_batchnorm_epsilon".to_string(),
    ];
    v.extend(cases("test_conv_with_strides_"));
    for prefix in ["test_maxpool_2d_", "test_averagepool_2d_"] {
        v.extend(
            cases(prefix)
                .into_iter()
                .filter(|n| unsupported_reason(n).is_none()),
        );
    }
    v
}

/// Why the chain rejects a 2-D pooling or conv case, as a word its error must contain.
pub fn unsupported_reason(name: &str) -> Option<&'static str> {
    if name.contains("ceil") {
        Some("ceil_mode")
    } else if name.contains("same") {
        Some("auto_pad")
    } else if name.contains("uint8") {
        Some("float32")
    } else if name.contains("argmax") {
        Some("Indices")
    } else {
        None
    }
}

pub fn unsupported_cases() -> Vec<String> {
    let mut v = vec!["test_conv_with_autopad_same".to_string()];
    for prefix in [
        "test_maxpool_2d_",
        "test_averagepool_2d_",
        "test_maxpool_with_argmax_2d_",
    ] {
        v.extend(
            cases(prefix)
                .into_iter()
                .filter(|n| unsupported_reason(n).is_some()),
        );
    }
    v
}
