//! `lifelapse bench`: time the workloads on this machine.

use super::common::{device_of, fail, print_json, Failure};
use super::exit;
use anyhow::Context;
use lifelapse::config::Config;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Folder of photos to benchmark with.
    #[arg(long, default_value = "samples")]
    samples: PathBuf,
    /// Only this benchmark (also accepted as `--only`).
    #[arg(value_name = "WORKLOAD", value_enum)]
    workload: Option<lifelapse::bench::Workload>,
    /// Only this benchmark.
    #[arg(long, value_enum, conflicts_with = "workload")]
    only: Option<lifelapse::bench::Workload>,
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// A pSp or e4e checkpoint: `bench chat` also renders with the stylegan renderer.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
}

pub fn run(args: Args, config: Config) -> Result<(), Failure> {
    let Args {
        json,
        samples,
        workload,
        only,
        runs,
        checkpoint,
    } = args;
    let device = device_of(&config)?;
    let only = workload.or(only);
    let report = lifelapse::bench::run(&samples, only, runs.max(1), device, checkpoint.as_deref())
        .context("benchmark")
        .map_err(fail(exit::FAILURE))?;
    if json {
        print_json(&report, "report")?;
    } else {
        print!("{report}");
    }
    Ok(())
}
