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
    println!("data dir: {}", config.data_dir().display());
    let text = toml::to_string(&config)
        .context("config")
        .map_err(fail(exit::FAILURE))?;
    println!("\nsettings in effect:\n{text}");
    Ok(())
}
