//! `lifelapse import-weights`, `generate` and `encode`: import a published checkpoint, and run
//! the generative networks on their own (for parity checks against the original code).

use super::common::{device_of, fail, failed, Failure};
use super::exit::ExitCode;
use lifelapse::config::Config;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The checkpoint file.
    file: PathBuf,
    /// What it holds (default: read from the file).
    #[arg(long, value_enum)]
    kind: Option<lifelapse::nets::import::CheckpointKind>,
}

pub fn import(args: ImportArgs, config: Config) -> Result<(), Failure> {
    let ImportArgs { file, kind } = args;
    use lifelapse::nets::import;
    let checkpoint = import::open(&file, kind).map_err(|e| {
        fail(e.exit_code())(
            anyhow::Error::new(e).context(format!("cannot import {}", file.display())),
        )
    })?;
    let dir = config.data_dir().join("models");
    let entry = import::save(&checkpoint, &file, &dir).map_err(failed)?;
    println!(
        "imported {} checkpoint ({} generator, {}², {:.1} MB) as {}",
        entry.kind,
        entry.family,
        entry.resolution,
        entry.bytes as f64 / 1e6,
        dir.join(&entry.file).display()
    );
    println!("sha256 {}", entry.sha256);
    Ok(())
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// An imported checkpoint or an original one.
    #[arg(long, value_name = "CKPT")]
    checkpoint: PathBuf,
    /// Safetensors holding `w_plus` [N, n_latent, style_dim].
    #[arg(long, value_name = "IN")]
    latents: PathBuf,
    /// Safetensors to write `images` [N, 3, H, W] to (raw generator output).
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    #[command(flatten)]
    run: GanRun,
}

pub fn generate(args: GenerateArgs, config: Config) -> Result<(), Failure> {
    let GenerateArgs {
        checkpoint,
        latents,
        out,
        run,
    } = args;
    let device = device_of(&config)?;
    let n = lifelapse::gan::generate(
        &checkpoint,
        &latents,
        &out,
        device,
        run.precision,
        run.batch as i64,
    )
    .map_err(failed)?;
    println!("wrote {n} images to {}", out.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct EncodeArgs {
    /// An imported pSp, e4e or ReStyle checkpoint or an original one.
    #[arg(long, value_name = "CKPT")]
    checkpoint: PathBuf,
    /// Aligned face images (resized to 256² for the encoder).
    #[arg(long, value_name = "ALIGNED", num_args = 1.., required = true)]
    images: Vec<PathBuf>,
    /// ReStyle's rounds of refinement (default: 3 with a StyleGAN3 generator, 5 with StyleGAN2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=20))]
    encoder_iterations: Option<u16>,
    /// Safetensors to write `w_plus` [N, n_latent, style_dim] to.
    #[arg(long, value_name = "OUT")]
    out: PathBuf,
    #[command(flatten)]
    run: GanRun,
}

pub fn encode(args: EncodeArgs, config: Config) -> Result<(), Failure> {
    let EncodeArgs {
        checkpoint,
        images,
        encoder_iterations,
        out,
        run,
    } = args;
    let device = device_of(&config)?;
    let n = lifelapse::gan::encode(
        &checkpoint,
        &images,
        &out,
        device,
        run.precision,
        run.batch,
        encoder_iterations.map(usize::from),
    )
    .map_err(failed)?;
    println!("wrote {n} W+ codes to {}", out.display());
    Ok(())
}

/// Precision and batch of a generative-network command.
#[derive(Debug, clap::Args)]
struct GanRun {
    /// fp16 runs on CUDA only.
    #[arg(long, default_value = "fp32", value_enum)]
    precision: lifelapse::gan::Precision,
    /// Items per network call.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}
