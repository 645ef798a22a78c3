//! `convexgan`: the command line. `convexgan run` is the main job (Fashion-MNIST-LT end to end).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use convexgan::app::{self, Overrides};
use convexgan::backend::{Cpu, Precision};
use convexgan::config::QLoss;

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
    },
    /// Stage 1: train the two-stream heads, A and Q; writes phase1.safetensors.
    Phase1(Common),
    /// Stage 2: freeze the streams and write dictionary.safetensors.
    BuildDict(Common),
    /// Stage 3: Phase 2 (G, D, Q) from the dictionary; writes phase2.safetensors.
    Phase2(Common),
    /// Stage 4: test metrics, report.md and recall.png from the run directory.
    Eval(Common),
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
    /// Preset: fmnist (default), paper (Table 1 widths) or tiny (tests).
    #[arg(long)]
    preset: Option<String>,
    /// A TOML configuration (as written to a run directory) instead of a preset.
    #[arg(long, conflicts_with = "preset")]
    config: Option<PathBuf>,
    /// Directory with the four Fashion-MNIST *-ubyte.gz files.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Imbalance ratio of the exponential long-tailed profile.
    #[arg(long)]
    imbalance: Option<f64>,
    /// Explicit training images per class, e.g. 4000,2000,... (one count per class).
    #[arg(long, value_delimiter = ',')]
    class_counts: Option<Vec<usize>>,
    /// Q's loss in Phase 2.
    #[arg(long, value_enum)]
    q_loss: Option<QLoss>,
    /// Dictionary rows per generated sample.
    #[arg(long)]
    ns: Option<usize>,
    /// Weight of the adversarial term of the generator's loss.
    #[arg(long)]
    lambda: Option<f64>,
    /// Phase 2 epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Phase 1 epochs.
    #[arg(long)]
    phase1_epochs: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Storage precision of the dictionary rows.
    #[arg(long, value_enum)]
    dict_precision: Option<Precision>,
    /// Only the first N test images (quick checks).
    #[arg(long)]
    test_limit: Option<usize>,
    #[arg(long, value_enum, default_value = "cpu")]
    device: Device,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Continue Phase 2 from the checkpoint in the run directory (`run` then skips Phase 1 and the
    /// dictionary); without one, start from the beginning.
    #[arg(long)]
    resume: bool,
    /// Phase 2 iterations between checkpoints (written atomically to the run directory); 0 = none.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
}

impl Common {
    fn overrides(&self) -> Overrides {
        Overrides {
            preset: self.preset.clone(),
            config: self.config.clone(),
            data: self.data.clone(),
            imbalance: self.imbalance,
            class_counts: self.class_counts.clone(),
            q_loss: self.q_loss,
            ns: self.ns,
            lambda: self.lambda,
            epochs: self.epochs,
            phase1_epochs: self.phase1_epochs,
            seed: self.seed,
            dict_precision: self.dict_precision,
            test_limit: self.test_limit,
            progress: !self.quiet,
            resume: self.resume,
            checkpoint_every: self.checkpoint_every,
        }
    }
}

fn dispatch<B: convexgan::Backend>(be: &B, cmd: &Command) -> convexgan::Result<()> {
    match cmd {
        Command::Run(c) => app::run(be, &c.run_dir, &c.overrides()),
        Command::Compare { common, seeds } => {
            app::compare(be, &common.run_dir, &common.overrides(), seeds)
        }
        Command::Phase1(c) => app::phase1(be, &c.run_dir, &c.overrides()),
        Command::BuildDict(c) => app::build_dict(be, &c.run_dir, &c.overrides()),
        Command::Phase2(c) => app::phase2(be, &c.run_dir, &c.overrides()),
        Command::Eval(c) => app::eval(be, &c.run_dir, &c.overrides()),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let device = match &cli.command {
        Command::Run(c)
        | Command::Phase1(c)
        | Command::BuildDict(c)
        | Command::Phase2(c)
        | Command::Eval(c) => c.device,
        Command::Compare { common, .. } => common.device,
    };
    let result = match device {
        Device::Cpu => dispatch(&Cpu::<f32>::new(), &cli.command),
        Device::Cuda => run_cuda(&cli.command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
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
