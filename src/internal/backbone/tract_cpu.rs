//! The CPU path: the whole ONNX model through `tract-onnx`, cut at the chosen output. Plans are
//! optimised per input shape and kept, since extraction runs many batches of one shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

use super::FeatureMap;
use crate::error::{Error, Result};

type Plan = std::sync::Arc<TypedRunnableModel>;

pub struct TractModel {
    path: PathBuf,
    output: Option<String>,
    plans: HashMap<Vec<usize>, Plan>,
}

impl TractModel {
    /// Checks that the file parses as ONNX and, when given, that `output` names a value of the
    /// graph; the plan itself is built on the first run for each input shape.
    pub fn load(path: &Path, output: Option<&str>) -> Result<Self> {
        let model = super::graph::read_model(path)?;
        if let Some(o) = output {
            let outs = super::graph::node_outputs(&model);
            if !outs.iter().any(|n| n == o) {
                let shown: Vec<&String> = outs.iter().rev().take(12).collect();
                return Err(Error::bad_file(
                    path,
                    format!("no value named `{o}`; the last node outputs are {shown:?}"),
                ));
            }
        }
        Ok(TractModel {
            path: path.to_path_buf(),
            output: output.map(str::to_string),
            plans: HashMap::new(),
        })
    }

    fn plan(&mut self, shape: &[usize]) -> Result<&Plan> {
        if !self.plans.contains_key(shape) {
            let fail = |e: TractError| {
                Error::bad_file(&self.path, format!("tract cannot run this model: {e:#}"))
            };
            let mut m = tract_onnx::onnx()
                .model_for_path(&self.path)
                .map_err(fail)?;
            m.set_input_fact(0, f32::fact(shape).into()).map_err(fail)?;
            if let Some(o) = &self.output {
                m.select_outputs_by_name([o.as_str()]).map_err(fail)?;
            }
            let plan = m
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .map_err(fail)?;
            self.plans.insert(shape.to_vec(), plan);
        }
        Ok(&self.plans[shape])
    }

    /// Runs the model on one input tensor of `shape` (row-major `data`); returns the output's
    /// values and shape.
    pub fn run(&mut self, data: &[f32], shape: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::shape(
                "backbone input",
                format!("{} values for shape {shape:?}", data.len()),
            ));
        }
        let path = self.path.clone();
        let plan = self.plan(shape)?;
        let input = tract_ndarray::ArrayD::from_shape_vec(shape, data.to_vec())
            .map_err(|e| Error::shape("backbone input", e.to_string()))?;
        let out = plan
            .run(tvec!(Tensor::from(input).into()))
            .map_err(|e| Error::bad_file(&path, format!("tract failed to run: {e:#}")))?;
        let view = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| Error::bad_file(&path, format!("output is not float32: {e:#}")))?;
        Ok((view.iter().copied().collect(), view.shape().to_vec()))
    }

    /// Runs a batch of `n` images, each `[c, h, w]`, and returns the NCHW activations.
    pub fn run_images(&mut self, data: &[f32], n: usize, chw: [usize; 3]) -> Result<FeatureMap> {
        let (values, shape) = self.run(data, &[n, chw[0], chw[1], chw[2]])?;
        let [n2, c, h, w] = shape[..] else {
            return Err(Error::bad_file(
                &self.path,
                format!("the chosen output has shape {shape:?}, not N×C×H×W"),
            ));
        };
        debug_assert_eq!(n2, n);
        Ok(FeatureMap {
            data: values,
            n,
            c,
            h,
            w,
        })
    }
}
