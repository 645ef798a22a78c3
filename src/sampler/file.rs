//! The fitted sampler as one tensor file, so that `sample` works later without refitting: G's and
//! Q's weights (`g.*`, `q.*`), the standardisation (`mean`, `scale`), the dictionary file's bytes
//! (`dictionary`, checked on load as a dictionary file is) and, in the metadata, the options, the
//! labels, the class counts and `N_s`. Every value is checked on load against every other.

use std::path::Path;

use super::fit::FittedSampler;
use super::options::SamplerOptions;
use crate::error::{Error, Result};
use crate::internal::io::tensor_file::{read_bytes, Dtype, TensorReader, TensorWriter};
use crate::nn::ParamStore;
use crate::train::dictionary::Dictionary;

const FORMAT: &str = "convexgan-sampler-v1";

/// Largest class count or feature width a sampler file may claim (far above any real one; a
/// hostile header is refused before anything is allocated from it).
const MAX_CLASSES: usize = 1 << 20;

impl FittedSampler {
    /// Writes the sampler to `path` as one safetensors file (G's and Q's weights, the
    /// standardisation, the dictionary and, in the metadata, the options, labels, counts and
    /// `N_s`), atomically (temporary file, then rename); an error when it cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dict = self.dict.to_bytes(path)?;
        let mut w = TensorWriter::new();
        for store in [&self.generator, &self.classifier] {
            for (name, t) in &store.tensors {
                w.put(name, t.shape.clone(), &t.data);
            }
        }
        w.put("mean", vec![self.dim], &self.mean)
            .put("scale", vec![self.dim], &self.scale)
            .put_raw("dictionary", Dtype::U8, vec![dict.len()], &dict)
            .meta("format", FORMAT)
            .meta("options", json(&self.options))
            .meta("labels", json(&self.labels))
            .meta("counts", json(&self.counts))
            .meta("dim", self.dim.to_string())
            .meta("ns", self.ns.to_string());
        w.write(path)
    }

    /// A sampler [`save`](Self::save)d earlier; every error names the file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_bytes(path, "a sampler file")?;
        let bad = |msg: String| Error::bad_file(path, msg);
        let file = TensorReader::parse(path, &bytes)?;
        let meta = file.metadata();
        let get = |k: &str| {
            meta.get(k).ok_or_else(|| {
                bad(format!(
                    "metadata '{k}' missing: not a convexgan sampler file"
                ))
            })
        };
        if get("format")? != FORMAT {
            return Err(bad(format!("metadata 'format' is not {FORMAT}")));
        }
        let options: SamplerOptions = serde_json::from_str(get("options")?)
            .map_err(|e| bad(format!("metadata 'options': {e}")))?;
        options
            .validate()
            .map_err(|e| bad(format!("metadata 'options': {e}")))?;
        let labels: Vec<u32> = serde_json::from_str(get("labels")?)
            .map_err(|e| bad(format!("metadata 'labels': {e}")))?;
        let counts: Vec<usize> = serde_json::from_str(get("counts")?)
            .map_err(|e| bad(format!("metadata 'counts': {e}")))?;
        let number = |k: &str| -> Result<usize> {
            get(k)?
                .parse()
                .map_err(|_| bad(format!("metadata '{k}' is not a number")))
        };
        let (dim, ns) = (number("dim")?, number("ns")?);
        if labels.len() < 2 || labels.len() > MAX_CLASSES || !labels.windows(2).all(|w| w[0] < w[1])
        {
            return Err(bad(format!(
                "metadata 'labels' must list 2 to {MAX_CLASSES} distinct labels in ascending order"
            )));
        }
        if dim == 0 || dim > MAX_CLASSES {
            return Err(bad(format!("metadata 'dim' {dim} is not a feature width")));
        }
        let dict_t = file.require("dictionary")?;
        let dict = Dictionary::from_bytes(path, &dict_t.to_vec::<u8>()?)?;
        if dict.counts != counts || dict.classes() != labels.len() {
            return Err(bad(format!(
                "the dictionary's class counts {:?} are not the sampler's {counts:?}",
                dict.counts
            )));
        }
        let d_s = options.shape_columns.unwrap_or(0);
        if (dict.d_t + dict.d_s, dict.d_s) != (dim, d_s) {
            return Err(bad(format!(
                "the dictionary holds {} + {} columns, the sampler {dim} with {d_s} in the shape stream",
                dict.d_t, dict.d_s
            )));
        }
        if ns == 0 || ns > dict.min_rows() {
            return Err(bad(format!(
                "N_s = {ns} but the smallest class dictionary has {} rows",
                dict.min_rows()
            )));
        }
        let vector = |name: &str| -> Result<Vec<f32>> {
            let t = file.require(name)?;
            t.expect_shape(&[Some(dim)])?;
            t.to_finite_vec::<f32>()
        };
        let (mean, scale) = (vector("mean")?, vector("scale")?);
        if let Some(i) = scale.iter().position(|&s| s <= 0.0) {
            return Err(bad(format!("tensor 'scale' is not positive at column {i}")));
        }
        let mut generator = ParamStore::new();
        let mut classifier = ParamStore::new();
        for (name, t) in file.all_f32_except(&["dictionary"])? {
            match name.split('.').next() {
                Some("g") => generator.tensors.insert(name, t),
                Some("q") => classifier.tensors.insert(name, t),
                _ => None,
            };
        }
        generator.source = Some(path.to_path_buf());
        classifier.source = Some(path.to_path_buf());
        let s = FittedSampler {
            options,
            labels,
            counts,
            dim,
            ns,
            mean,
            scale,
            dict,
            generator,
            classifier,
            logs: Vec::new(),
        };
        // G's shapes are checked by building it (the error names the file's tensor); the
        // dictionary was checked as it was parsed and is not copied again here.
        s.generator_on(&crate::backend::Cpu::<f32>::new())?;
        Ok(s)
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}
