//! `lifelapse info`: show the configuration, compute device and optional features.

use super::common::{device_of, fail, Failure};
use super::exit;
use anyhow::Context;
use lifelapse::config::Config;

pub fn run(config: Config) -> Result<(), Failure> {
    let device = device_of(&config)?;
    println!("lifelapse {}", env!("CARGO_PKG_VERSION"));
    println!("device: {}", lifelapse::nets::device::describe(device));
    println!(
        "HEIC: {}",
        if lifelapse::album::heif::available() {
            "yes (libheif)"
        } else {
            "no (install libheif1)"
        }
    );
    if device.is_cuda() {
        // Compiling and loading them here shows at once whether the generators will run fused.
        use lifelapse::nets::{cuda_kernels::EpilogueKernels, filtered_lrelu_kernel};
        let state = |loaded: Result<(), lifelapse::nets::cuda_kernels::KernelError>| match loaded {
            Ok(()) => "loaded".to_string(),
            Err(e) => format!("not loaded ({})", lifelapse::chain::Chain(&e)),
        };
        let filtered = filtered_lrelu_kernel::FilteredLreluKernels::new(device);
        let radial = match &filtered {
            Ok(k) if k.filter_cores() == filtered_lrelu_kernel::FilterCores::TensorCores => {
                ", fp16 radial layers on the tensor cores"
            }
            Ok(_) => ", radial layers on the CUDA cores",
            Err(_) => "",
        };
        println!(
            "fused kernels: StyleGAN2 epilogue {}; StyleGAN3 filtered leaky ReLU {}{radial}",
            state(EpilogueKernels::new(device).map(drop)),
            state(filtered.map(drop))
        );
    }
    println!("data dir: {}", config.data_dir().display());
    let text = toml::to_string(&config)
        .context("config")
        .map_err(fail(exit::FAILURE))?;
    println!("\nsettings in effect:\n{text}");
    Ok(())
}
