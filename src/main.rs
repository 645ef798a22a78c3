//! `convexgan`: the command line. `convexgan run` is the main job (Fashion-MNIST-LT end to end).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use convexgan::backend::Cpu;
use convexgan::internal::app::{self, Overrides, RunDir};

#[derive(Parser)]
#[command(
    name = "convexgan",
    version,
    about = "Minority oversampling with a convex-combination GAN over feature dictionaries (Park, Song, Kang 2022)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: Phase 1, dictionaries, Phase 2 and evaluation on Fashion-MNIST-LT; prints
    /// top-1, ACSA and GM with and without oversampling.
    Run(Common),
    /// Every baseline and Convex-GAN variant, one table, mean ± std over seeds.
    Compare {
        #[command(flatten)]
        common: Common,
        /// Seeds to average over.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
        seeds: Vec<u64>,
        /// Only these methods, by name (default: all): phase1, focal, ldam, crt, drw, tau-norm,
        /// lws, logit-adjust, smote, ros, adasyn, borderline-smote, convexgan-{mse,focal,ldam,ce}.
        #[arg(long, value_delimiter = ',')]
        methods: Vec<convexgan::train::pipeline::Method>,
    },
    /// The paper's studies, mean ± std over seeds: `aux` (Table 4, the auxiliary classifier),
    /// `streams` (Table 5, generating one stream or both), `ns` (Fig. 4, N_s by Q loss, with a
    /// plot). Writes ablate_<study>.md, .json and _config.toml (and ablate_ns.png).
    Ablate {
        /// aux, streams or ns.
        #[arg(value_enum)]
        study: app::Study,
        #[command(flatten)]
        common: Common,
        /// Seeds to average over.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
        seeds: Vec<u64>,
        /// The `ns` study's N_s values (each above the smallest dictionary runs at its size).
        #[arg(long, value_delimiter = ',', default_value = "10,50,100,200,300")]
        ns_values: Vec<usize>,
    },
    /// Stage 1: train the two-stream heads, A and Q; writes phase1.safetensors.
    Phase1(Common),
    /// Stage 2: freeze the streams and write dictionary.safetensors.
    BuildDict(Common),
    /// Stage 3: Phase 2 (G, D, Q) from the dictionary; writes phase2.safetensors.
    Phase2(Common),
    /// Stage 4: test metrics, report.md and recall.png from the run directory.
    Eval(Common),
    /// DeepFashion or DeepFashion2 images through frozen ONNX backbones into a features file,
    /// which `run`, `compare` and the stages take with --features.
    Extract(ExtractArgs),
    /// Writes a small VGG-shaped ONNX model with random weights (for trying the DeepFashion path
    /// without downloading VGG16; scripts/export_vgg16_onnx.py exports the real one).
    MakeBackbone {
        /// Where to write the .onnx file.
        #[arg(long)]
        path: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Finishes a commit an interrupted command left, then checks every file of a run directory
    /// against its manifest.json (which stage wrote it, its SHA-256) and names stages whose
    /// inputs have changed since; exit status 1 when a file is missing or changed.
    Verify {
        #[arg(long, default_value = "runs/default")]
        run_dir: PathBuf,
    },
    /// Oversample your own features: fit a sampler on X and y (from any network), write X and y
    /// with the synthetic rows appended (imbalanced-learn's fit_resample).
    Resample(ResampleArgs),
    /// Rows of one class from a sampler saved by `resample --save-sampler`, without refitting.
    Sample(SampleArgs),
    /// Class probabilities and labels from a run's fine-tuned Q on new rows.
    Predict(PredictArgs),
    /// The CUDA libraries actually loaded (file, version), the device, stream-ordered allocation
    /// support, cubin or PTX per kernel family, and a kernel and a cuBLAS product checked. Exit
    /// status 0 when the device works, 3 when there is no device (1 instead when
    /// CONVEXGAN_REQUIRE_GPU is set), 1 on any failure.
    GpuInfo {
        /// The CUDA device ordinal.
        #[arg(long, default_value_t = 0)]
        device: usize,
    },
}

#[derive(Args, Clone)]
struct ExtractArgs {
    /// DeepFashion root: Anno/list_category_img.txt, Anno/list_bbox.txt, Anno/list_landmarks.txt,
    /// Eval/list_eval_partition.txt and the img/ folders; or DeepFashion2 root (told by its
    /// train/annos/): train/{image,annos}/ and validation/{image,annos}/, one sample per item.
    #[arg(long)]
    data: PathBuf,
    /// The ONNX backbone (e.g. VGG16 from scripts/export_vgg16_onnx.py); serves both streams
    /// unless --shape-backbone names a second one.
    #[arg(long, alias = "texture-backbone")]
    backbone: PathBuf,
    /// A second ONNX model for the shape stream (the paper's two streams).
    #[arg(long)]
    shape_backbone: Option<PathBuf>,
    /// The backbone output to stop at; default: the last ReLU fed by a Conv (conv5_3's ReLU in a
    /// torchvision VGG16 export).
    #[arg(long)]
    output: Option<String>,
    /// The shape backbone's output, when it differs from --output.
    #[arg(long)]
    shape_output: Option<String>,
    /// Features file to write (safetensors).
    #[arg(long, default_value = "features.safetensors")]
    features: PathBuf,
    /// Adaptive average pooling of the output to P×P per channel.
    #[arg(long, default_value_t = 2)]
    pool: usize,
    /// Images per backbone call.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Only the first N images of the partition list (DeepFashion), or the first N items of each
    /// of train/ and validation/ (DeepFashion2).
    #[arg(long)]
    limit: Option<usize>,
    /// cpu: tract-onnx; cuda: cuDNN (build with --features cudnn).
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct ResampleArgs {
    /// Features: .npy (2-D), .npz (`x`, or `x` and `y`) or CSV (with the labels in
    /// --label-column when --y is not given).
    #[arg(long)]
    x: PathBuf,
    /// Labels (non-negative integers): .npy, .npz (`y`) or a one-column CSV.
    #[arg(long)]
    y: Option<PathBuf>,
    /// The CSV column holding the labels when --x is a CSV and --y is not given.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Where to write the resampled data (.npz with `x` and `y`).
    #[arg(long)]
    out: PathBuf,
    /// imbalanced-learn's sampling_strategy: auto, not-majority, minority, not-minority, all, a
    /// ratio such as 0.5, or targets such as 3:500,7:200.
    #[arg(long, default_value = "auto")]
    strategy: convexgan::sampler::Strategy,
    /// Also save the fitted sampler here (for `convexgan sample`).
    #[arg(long)]
    save_sampler: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Rows combined per synthetic row (default 30, or the smallest class's count when lower).
    #[arg(long)]
    ns: Option<usize>,
    /// Phase 2 iterations (default: 10 passes over the data, between 300 and 1500).
    #[arg(long)]
    iterations: Option<usize>,
    /// The last K columns form the shape stream (the paper's two streams); default: one stream.
    #[arg(long)]
    shape_columns: Option<usize>,
    #[arg(long, value_enum, default_value = "f32")]
    dict_precision: convexgan::backend::Precision,
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct SampleArgs {
    /// A sampler file written by `resample --save-sampler`.
    #[arg(long)]
    sampler: PathBuf,
    /// The class (as labelled in the data the sampler was fitted on).
    #[arg(long)]
    class: u32,
    /// How many rows.
    #[arg(short, long)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the rows (.npz with `x` and `y`).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

#[derive(Args, Clone)]
struct PredictArgs {
    /// A run directory after `phase2` (or `phase1`).
    #[arg(long, default_value = "runs/default")]
    run_dir: PathBuf,
    /// Rows as the run's heads take them: a features file's vectors, or Fashion-MNIST pixels
    /// scaled to [0, 1] (.npy, .npz or CSV).
    #[arg(long)]
    x: PathBuf,
    /// Where to write `proba` (rows × classes) and `label` (.npz).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
}

impl ResampleArgs {
    fn job(&self) -> app::ResampleJob {
        app::ResampleJob {
            x: self.x.clone(),
            y: self.y.clone(),
            label_column: self.label_column.clone(),
            out: self.out.clone(),
            strategy: self.strategy.clone(),
            options: convexgan::sampler::SamplerOptions {
                seed: self.seed,
                ns: self.ns,
                iterations: self.iterations,
                shape_columns: self.shape_columns,
                precision: self.dict_precision,
                ..Default::default()
            },
            save_sampler: self.save_sampler.clone(),
            progress: !self.quiet,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Device {
    Cpu,
    Cuda,
}

#[derive(Args, Clone)]
struct Common {
    /// Run directory: config, checkpoints, dictionaries, metrics, report, plot.
    #[arg(long, default_value = "runs/default")]
    run_dir: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
    // Listed between --test-limit and --quiet, where it always was.
    #[arg(long, value_enum, default_value = "cpu", display_order = DEVICE_DISPLAY_ORDER)]
    device: Device,
}

/// `--device` is declared after the flattened overrides; in the help it sorts (by name) just
/// before `--quiet`, whose implicit position this is (run-dir, then 14 overrides).
const DEVICE_DISPLAY_ORDER: usize = 15;

impl Common {
    fn run_dir(&self) -> RunDir {
        RunDir::new(&self.run_dir)
    }
}

fn dispatch<B: convexgan::Backend>(be: &B, cmd: &Command) -> convexgan::Result<()> {
    match cmd {
        Command::Run(c) => app::run(be, &c.run_dir(), &c.overrides),
        Command::Compare {
            common,
            seeds,
            methods,
        } => app::compare(be, &common.run_dir(), &common.overrides, seeds, methods),
        Command::Ablate {
            study,
            common,
            seeds,
            ns_values,
        } => app::ablate(
            be,
            &common.run_dir(),
            &common.overrides,
            *study,
            seeds,
            ns_values,
        ),
        Command::Phase1(c) => app::phase1(be, &c.run_dir(), &c.overrides),
        Command::BuildDict(c) => app::build_dict(be, &c.run_dir(), &c.overrides),
        Command::Phase2(c) => app::phase2(be, &c.run_dir(), &c.overrides),
        Command::Eval(c) => app::eval(be, &c.run_dir(), &c.overrides),
        Command::Resample(a) => app::resample(be, &a.job()),
        Command::Sample(a) => app::sample(be, &a.sampler, a.class, a.n, a.seed, &a.out),
        Command::Predict(a) => app::predict(be, &RunDir::new(&a.run_dir), &a.x, &a.out),
        Command::Extract(_)
        | Command::MakeBackbone { .. }
        | Command::GpuInfo { .. }
        | Command::Verify { .. } => {
            unreachable!("handled before a backend is made")
        }
    }
}

fn main() -> ExitCode {
    convexgan::backend::cpu::use_all_cores();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let common = match &cli.command {
        Command::Run(c)
        | Command::Phase1(c)
        | Command::BuildDict(c)
        | Command::Phase2(c)
        | Command::Eval(c) => Some(c),
        Command::Compare { common, .. } | Command::Ablate { common, .. } => Some(common),
        _ => None,
    };
    // The run directory is checked before a backend is opened or any work starts.
    if let Some(Err(e)) = common.map(|c| c.run_dir().check_usable()) {
        return finish(Err(e));
    }
    let device = match &cli.command {
        Command::Extract(a) => return finish(extract(a)),
        Command::MakeBackbone { path, seed } => {
            return finish(convexgan::internal::backbone::onnx_writer::write_vgg(
                path,
                &convexgan::internal::backbone::onnx_writer::VggSpec::tiny(*seed),
            ))
        }
        Command::GpuInfo { device } => return gpu_info(*device),
        Command::Verify { run_dir } => return finish(app::verify(&RunDir::new(run_dir))),
        Command::Run(c)
        | Command::Phase1(c)
        | Command::BuildDict(c)
        | Command::Phase2(c)
        | Command::Eval(c) => c.device,
        Command::Compare { common, .. } | Command::Ablate { common, .. } => common.device,
        Command::Resample(a) => a.device,
        Command::Sample(a) => a.device,
        Command::Predict(a) => a.device,
    };
    let result = match device {
        Device::Cpu => dispatch(&Cpu::<f32>::new(), &cli.command),
        Device::Cuda => run_cuda(&cli.command),
    };
    finish(result)
}

fn finish(result: convexgan::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn extract(a: &ExtractArgs) -> convexgan::Result<()> {
    use convexgan::internal::extract::{extract, ExtractDevice, ExtractOptions};
    let t = std::time::Instant::now();
    let set = extract(&ExtractOptions {
        data: a.data.clone(),
        texture_backbone: a.backbone.clone(),
        texture_output: a.output.clone(),
        shape_backbone: a.shape_backbone.clone(),
        shape_output: a.shape_output.clone(),
        features: a.features.clone(),
        pool: a.pool,
        batch: a.batch,
        limit: a.limit,
        device: match a.device {
            Device::Cpu => ExtractDevice::Cpu,
            Device::Cuda => ExtractDevice::Cuda,
        },
        progress: !a.quiet,
    })?;
    eprintln!(
        "extract: {} images, {} values each ({}), in {:.1}s → {}",
        set.n(),
        set.dim(),
        set.backbone_identity(),
        t.elapsed().as_secs_f64(),
        a.features.display()
    );
    Ok(())
}

/// Exit status of `gpu-info` when there is no device to check.
const EXIT_NO_DEVICE: u8 = 3;

#[cfg(feature = "cuda")]
fn gpu_info(ordinal: usize) -> ExitCode {
    use convexgan::backend::cuda::diagnostics::{gpu_info, Status};
    let info = gpu_info(ordinal);
    for (k, v) in &info.lines {
        println!("{k}: {v}");
    }
    let required = std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some();
    match info.status {
        Status::Ok => ExitCode::SUCCESS,
        Status::NoDevice(why) if !required => {
            println!("skipped: no device ({why})");
            ExitCode::from(EXIT_NO_DEVICE)
        }
        Status::NoDevice(why) => {
            eprintln!("error: CONVEXGAN_REQUIRE_GPU is set but there is no device: {why}");
            ExitCode::FAILURE
        }
        Status::Failed(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn gpu_info(_ordinal: usize) -> ExitCode {
    let why =
        "this build has no CUDA backend; rebuild with `cargo build --release --features cuda`";
    if std::env::var_os("CONVEXGAN_REQUIRE_GPU").is_some() {
        eprintln!("error: CONVEXGAN_REQUIRE_GPU is set but {why}");
        return ExitCode::FAILURE;
    }
    println!("skipped: no device ({why})");
    ExitCode::from(EXIT_NO_DEVICE)
}

#[cfg(feature = "cuda")]
fn run_cuda(cmd: &Command) -> convexgan::Result<()> {
    let be = convexgan::backend::cuda::CudaBackend::new(0)?;
    dispatch(&be, cmd)
}

#[cfg(not(feature = "cuda"))]
fn run_cuda(_cmd: &Command) -> convexgan::Result<()> {
    Err(convexgan::Error::Cuda(
        "this build has no CUDA backend; rebuild with `cargo build --release --features cuda`"
            .into(),
    ))
}
