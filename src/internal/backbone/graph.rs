//! The VGG subset of an ONNX graph as a plain chain of ops, read from the model's protobuf with its
//! weights taken from the initializers. The GPU path executes this chain with cuDNN; the CPU path
//! hands the model to tract and uses this only to find the output and to check the chain.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;
use tract_onnx::pb;

use crate::error::{Error, Result};

/// Op types the chain supports (issue: the VGG subset).
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "Relu",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "BatchNormalization",
    "Flatten",
];

/// 2-D spatial geometry of a convolution or pooling window. Pads are `[top, left, bottom, right]`
/// (ONNX order `[x1_begin, x2_begin, x1_end, x2_end]` for NCHW).
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
}

impl Window {
    /// Output size along axis `a` (0 = height, 1 = width) for an input of `n`, floor mode.
    pub fn out_len(&self, a: usize, n: usize) -> Option<usize> {
        let padded = n + self.pads[a] + self.pads[a + 2];
        let span = self.dilations[a] * (self.kernel[a] - 1) + 1;
        (padded >= span).then(|| (padded - span) / self.strides[a] + 1)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `weight` is `[out_c, in_c / group, kh, kw]` row-major.
    Conv {
        weight: Vec<f32>,
        weight_shape: [usize; 4],
        bias: Option<Vec<f32>>,
        window: Window,
        group: usize,
    },
    Relu,
    MaxPool {
        window: Window,
    },
    AveragePool {
        window: Window,
        count_include_pad: bool,
    },
    GlobalAveragePool,
    /// Inference-mode batch normalisation: `scale · (x − mean) / sqrt(var + epsilon) + bias`.
    BatchNorm {
        scale: Vec<f32>,
        bias: Vec<f32>,
        mean: Vec<f32>,
        var: Vec<f32>,
        epsilon: f32,
    },
    /// ONNX Flatten with `axis = 1`: `N × (C·H·W)`; the data do not move.
    Flatten,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv { .. } => "Conv",
            Op::Relu => "Relu",
            Op::MaxPool { .. } => "MaxPool",
            Op::AveragePool { .. } => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::BatchNorm { .. } => "BatchNormalization",
            Op::Flatten => "Flatten",
        }
    }

    /// Output shape `[c, h, w]` (per sample) for input `[c, h, w]`; `None` when the input does
    /// not fit (too small for the window, wrong channel count).
    pub fn out_shape(&self, s: [usize; 3]) -> Option<[usize; 3]> {
        let [c, h, w] = s;
        match self {
            Op::Conv {
                weight_shape,
                window,
                group,
                ..
            } => {
                if c != weight_shape[1] * group {
                    return None;
                }
                Some([
                    weight_shape[0],
                    window.out_len(0, h)?,
                    window.out_len(1, w)?,
                ])
            }
            Op::MaxPool { window } | Op::AveragePool { window, .. } => {
                Some([c, window.out_len(0, h)?, window.out_len(1, w)?])
            }
            Op::GlobalAveragePool => Some([c, 1, 1]),
            Op::BatchNorm { scale, .. } => (scale.len() == c).then_some(s),
            Op::Relu => Some(s),
            Op::Flatten => Some([c * h * w, 1, 1]),
        }
    }
}

/// A chain of ops from the graph's input to the chosen output.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub input: String,
    pub output: String,
    pub ops: Vec<Op>,
}

impl Chain {
    /// Per-sample shape after every op, or an error naming the op that does not fit.
    pub fn shapes(&self, input: [usize; 3]) -> Result<Vec<[usize; 3]>> {
        let mut s = input;
        let mut out = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter().enumerate() {
            s = op.out_shape(s).ok_or_else(|| {
                Error::invalid(
                    "backbone input",
                    format!(
                        "op {i} ({}) cannot take a per-sample input of shape {s:?}",
                        op.name()
                    ),
                )
            })?;
            out.push(s);
        }
        Ok(out)
    }
}

/// Reads an ONNX file's protobuf, naming the file when it is not one.
pub fn read_model(path: &Path) -> Result<pb::ModelProto> {
    let bytes = crate::internal::io::read::read_regular(
        path,
        "an ONNX model",
        crate::internal::io::read::MAX_MODEL_BYTES,
    )?;
    let model = pb::ModelProto::decode(bytes.as_slice())
        .map_err(|e| Error::bad_file(path, format!("not an ONNX model: {e}")))?;
    if model.graph.is_none() {
        return Err(Error::bad_file(path, "ONNX model has no graph"));
    }
    Ok(model)
}

/// The default backbone output (issue 6): the last `Relu` fed by a `Conv` — in a torchvision
/// VGG16 export, the ReLU after `conv5_3`, whether or not the classifier was exported too.
pub fn default_output(model: &pb::ModelProto, path: &Path) -> Result<String> {
    let g = model.graph.as_ref().expect("read_model checked the graph");
    let producers: HashMap<&str, &str> = g
        .node
        .iter()
        .flat_map(|n| {
            n.output
                .iter()
                .map(move |o| (o.as_str(), n.op_type.as_str()))
        })
        .collect();
    g.node
        .iter()
        .rev()
        .find(|n| {
            n.op_type == "Relu"
                && n.input
                    .first()
                    .is_some_and(|i| producers.get(i.as_str()) == Some(&"Conv"))
        })
        .and_then(|n| n.output.first().cloned())
        .ok_or_else(|| {
            Error::bad_file(
                path,
                "no Relu fed by a Conv to default to; name the output with --output",
            )
        })
}

/// The names of every value some node produces, for error messages listing the choices.
pub fn node_outputs(model: &pb::ModelProto) -> Vec<String> {
    let g = model.graph.as_ref().expect("read_model checked the graph");
    g.node
        .iter()
        .flat_map(|n| n.output.iter().cloned())
        .collect()
}

/// Walks from the graph's (single, non-initializer) input to `output` through single-input ops,
/// with weights from the initializers. Any op outside [`SUPPORTED_OPS`] on that path is an error
/// listing all of them; so is a branch or an output that no node produces.
pub fn chain_to(model: &pb::ModelProto, output: &str, path: &Path) -> Result<Chain> {
    let g = model.graph.as_ref().expect("read_model checked the graph");
    let inits: HashMap<&str, &pb::TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let inputs: Vec<&str> = g
        .input
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !inits.contains_key(n))
        .collect();
    let [input] = inputs[..] else {
        return Err(Error::bad_file(
            path,
            format!("the backbone must have exactly one image input, found {inputs:?}"),
        ));
    };
    // The chain carries no types: a declared non-float input would be run as float32.
    let elem_type = g.input.iter().find(|v| v.name == input).and_then(|v| {
        match v.r#type.as_ref()?.value.as_ref()? {
            pb::type_proto::Value::TensorType(t) => Some(t.elem_type),
        }
    });
    if let Some(t) = elem_type.filter(|&t| t != 0 && t != 1) {
        return Err(Error::bad_file(
            path,
            format!("the input `{input}` has ONNX element type {t}; the backbone runs float32 (1)"),
        ));
    }
    let by_output: HashMap<&str, &pb::NodeProto> = g
        .node
        .iter()
        .flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n)))
        .collect();
    // Walk back from the output to the input, then read the nodes forwards.
    let mut nodes = Vec::new();
    let mut cur = output;
    let mut seen = HashSet::new();
    while cur != input {
        let node = by_output.get(cur).ok_or_else(|| {
            Error::bad_file(
                path,
                format!("no node produces `{cur}` on the way from `{output}` back to the input `{input}`"),
            )
        })?;
        if !seen.insert(node.name.clone() + cur) {
            return Err(Error::bad_file(path, format!("cycle through `{cur}`")));
        }
        nodes.push(*node);
        let data_inputs: Vec<&String> = node
            .input
            .iter()
            .filter(|i| !i.is_empty() && !inits.contains_key(i.as_str()))
            .collect();
        let [prev] = data_inputs[..] else {
            return Err(Error::bad_file(
                path,
                format!(
                    "node `{}` ({}) takes {} non-constant inputs; the backbone must be a chain",
                    node.name,
                    node.op_type,
                    data_inputs.len()
                ),
            ));
        };
        cur = prev;
    }
    nodes.reverse();
    let unsupported: Vec<String> = nodes
        .iter()
        .filter(|n| !SUPPORTED_OPS.contains(&n.op_type.as_str()) || !n.domain.is_empty())
        .map(|n| format!("{} (`{}`)", n.op_type, n.name))
        .collect();
    if !unsupported.is_empty() {
        return Err(Error::bad_file(
            path,
            format!(
                "unsupported ops on the GPU path: {}; supported: {}",
                unsupported.join(", "),
                SUPPORTED_OPS.join(", ")
            ),
        ));
    }
    let ops = nodes
        .iter()
        .map(|n| node_op(n, &inits, path))
        .collect::<Result<Vec<_>>>()?;
    Ok(Chain {
        input: input.to_string(),
        output: output.to_string(),
        ops,
    })
}

fn attr<'a>(n: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn ints(n: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

fn pair(n: &pb::NodeProto, name: &str, default: usize, path: &Path) -> Result<[usize; 2]> {
    match ints(n, name) {
        None => Ok([default; 2]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(bad_node(
            n,
            path,
            format!("{name} = {v:?}: expected two positive values (2-D)"),
        )),
    }
}

fn bad_node(n: &pb::NodeProto, path: &Path, msg: String) -> Error {
    Error::bad_file(path, format!("node `{}` ({}): {msg}", n.name, n.op_type))
}

fn window(n: &pb::NodeProto, kernel: [usize; 2], path: &Path) -> Result<Window> {
    if let Some(a) = attr(n, "auto_pad") {
        let s = String::from_utf8_lossy(&a.s);
        if s != "NOTSET" && s != "VALID" {
            return Err(bad_node(
                n,
                path,
                format!("auto_pad = {s} is not supported on the GPU path; give explicit pads"),
            ));
        }
    }
    if attr(n, "ceil_mode").is_some_and(|a| a.i != 0) {
        return Err(bad_node(
            n,
            path,
            "ceil_mode = 1 is not supported on the GPU path".into(),
        ));
    }
    let pads = match ints(n, "pads") {
        None => [0; 4],
        Some(v) if v.len() == 4 && v.iter().all(|&x| x >= 0) => {
            [v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize]
        }
        Some(v) => {
            return Err(bad_node(
                n,
                path,
                format!("pads = {v:?}: expected four values (2-D)"),
            ))
        }
    };
    Ok(Window {
        kernel,
        strides: pair(n, "strides", 1, path)?,
        pads,
        dilations: pair(n, "dilations", 1, path)?,
    })
}

fn float_init(
    n: &pb::NodeProto,
    inits: &HashMap<&str, &pb::TensorProto>,
    slot: usize,
    path: &Path,
) -> Result<Option<(Vec<f32>, Vec<usize>)>> {
    let Some(name) = n.input.get(slot).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let t = inits.get(name.as_str()).ok_or_else(|| {
        bad_node(
            n,
            path,
            format!("input {slot} `{name}` must be an initializer (a constant weight)"),
        )
    })?;
    let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
    let count: usize = dims.iter().product();
    let values = tensor_f32(t).map_err(|m| bad_node(n, path, format!("weight `{name}`: {m}")))?;
    if values.len() != count {
        return Err(bad_node(
            n,
            path,
            format!(
                "weight `{name}` holds {} values for dims {dims:?}",
                values.len()
            ),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad_node(
            n,
            path,
            format!("weight `{name}` value {i} is {}", values[i]),
        ));
    }
    Ok(Some((values, dims)))
}

/// A float tensor's values, from `float_data` or little-endian `raw_data`. External data is not
/// supported (a VGG16 export fits in one file).
pub fn tensor_f32(t: &pb::TensorProto) -> std::result::Result<Vec<f32>, String> {
    const FLOAT: i32 = 1;
    if t.data_type != FLOAT {
        return Err(format!("data type {} is not float32", t.data_type));
    }
    if t.data_location == Some(1) {
        return Err("stored as external data; re-export with the weights inside the file".into());
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            return Err(format!(
                "raw data of {} bytes is not whole floats",
                t.raw_data.len()
            ));
        }
        return Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    Ok(t.float_data.clone())
}

fn node_op(n: &pb::NodeProto, inits: &HashMap<&str, &pb::TensorProto>, path: &Path) -> Result<Op> {
    match n.op_type.as_str() {
        "Relu" => Ok(Op::Relu),
        "GlobalAveragePool" => Ok(Op::GlobalAveragePool),
        "Flatten" => match attr(n, "axis").map(|a| a.i).unwrap_or(1) {
            1 => Ok(Op::Flatten),
            a => Err(bad_node(
                n,
                path,
                format!("axis = {a}; only axis = 1 is supported"),
            )),
        },
        "Conv" => {
            let (weight, dims) = float_init(n, inits, 1, path)?
                .ok_or_else(|| bad_node(n, path, "no weight".into()))?;
            let [o, i, kh, kw] = dims[..] else {
                return Err(bad_node(
                    n,
                    path,
                    format!("weight dims {dims:?} are not 2-D [O, I, kH, kW]"),
                ));
            };
            if let Some(k) = ints(n, "kernel_shape") {
                if k != [kh as i64, kw as i64] {
                    return Err(bad_node(
                        n,
                        path,
                        format!("kernel_shape {k:?} disagrees with the weight {dims:?}"),
                    ));
                }
            }
            let group = attr(n, "group").map(|a| a.i).unwrap_or(1);
            if group < 1 || o % group as usize != 0 {
                return Err(bad_node(
                    n,
                    path,
                    format!("group = {group} does not divide {o} output channels"),
                ));
            }
            let bias = match float_init(n, inits, 2, path)? {
                Some((b, _)) if b.len() != o => {
                    return Err(bad_node(
                        n,
                        path,
                        format!("bias of {} values for {o} output channels", b.len()),
                    ))
                }
                b => b.map(|(b, _)| b),
            };
            Ok(Op::Conv {
                weight,
                weight_shape: [o, i, kh, kw],
                bias,
                window: window(n, [kh, kw], path)?,
                group: group as usize,
            })
        }
        "MaxPool" | "AveragePool" => {
            let k = ints(n, "kernel_shape")
                .filter(|k| k.len() == 2 && k.iter().all(|&x| x >= 1))
                .ok_or_else(|| {
                    bad_node(
                        n,
                        path,
                        "kernel_shape must hold two positive values (2-D)".into(),
                    )
                })?;
            if n.output.len() > 1 && n.output[1..].iter().any(|o| !o.is_empty()) {
                return Err(bad_node(
                    n,
                    path,
                    "the Indices output is not supported".into(),
                ));
            }
            let w = window(n, [k[0] as usize, k[1] as usize], path)?;
            if n.op_type == "MaxPool" {
                Ok(Op::MaxPool { window: w })
            } else {
                if w.dilations != [1, 1] {
                    return Err(bad_node(
                        n,
                        path,
                        "dilated average pooling is not supported".into(),
                    ));
                }
                let count_include_pad = attr(n, "count_include_pad").is_some_and(|a| a.i != 0);
                Ok(Op::AveragePool {
                    window: w,
                    count_include_pad,
                })
            }
        }
        "BatchNormalization" => {
            if attr(n, "training_mode").is_some_and(|a| a.i != 0) || n.output.len() > 1 {
                return Err(bad_node(
                    n,
                    path,
                    "only inference-mode BatchNormalization is supported".into(),
                ));
            }
            let get = |slot: usize| -> Result<Vec<f32>> {
                Ok(float_init(n, inits, slot, path)?
                    .ok_or_else(|| bad_node(n, path, format!("input {slot} missing")))?
                    .0)
            };
            let (scale, bias, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
            let c = scale.len();
            if bias.len() != c || mean.len() != c || var.len() != c {
                return Err(bad_node(
                    n,
                    path,
                    "scale, bias, mean and var differ in length".into(),
                ));
            }
            let epsilon = attr(n, "epsilon").map(|a| a.f).unwrap_or(1e-5);
            Ok(Op::BatchNorm {
                scale,
                bias,
                mean,
                var,
                epsilon,
            })
        }
        other => Err(bad_node(n, path, format!("{other} is not supported"))),
    }
}
