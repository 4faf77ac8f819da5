//! The StyleGAN3 part of `lifelapse bench stylegan`: generator frames/s (R and T), where a
//! frame's time goes (modulated convolutions against filtered leaky ReLUs), and ReStyle
//! encodes/s with its rounds of refinement, all with random weights. StyleGAN2 at the same
//! size runs in the same measurement, the peer the paper's cost ratios are stated against.

use super::stylegan::{rate, sync};
use super::BenchError;
use crate::nets::generative::{Generator, Shape};
use crate::nets::restyle::{self, RestyleEncoder};
use crate::nets::stylegan2;
use crate::nets::stylegan3::{self, GeneratorConfig, Variant};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Serialize)]
pub struct Stylegan3Bench {
    pub generator: Vec<FamilyRun>,
    /// Share of a frame's time per kind of step.
    pub profile: Vec<StepShare>,
    pub restyle: Vec<RestyleRun>,
}

#[derive(Debug, Serialize)]
pub struct FamilyRun {
    pub config: String,
    pub size: i64,
    pub batch: i64,
    pub precision: String,
    pub frames_per_s: f64,
    pub ms_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct StepShare {
    pub config: String,
    pub batch: i64,
    pub precision: String,
    /// `input`, `conv` (modulated convolutions) or `filter` (bias, up-sampling filter, leaky
    /// ReLU, down-sampling filter).
    pub step: String,
    pub ms_per_frame: f64,
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct RestyleRun {
    pub config: String,
    pub rounds: usize,
    pub batch: i64,
    pub precision: String,
    pub encodes_per_s: f64,
}

fn precision(kind: Kind) -> String {
    match kind {
        Kind::Half => "fp16",
        _ => "fp32",
    }
    .into()
}

/// A generator of `shape` with random weights.
fn random_generator(shape: &Shape, device: Device, kind: Kind) -> Result<Generator, BenchError> {
    let weights = match shape {
        Shape::Stylegan2(c) => c.random_weights(7),
        Shape::Stylegan3(c) => c.random_weights(7),
    };
    Generator::new(&weights, shape, device, kind).map_err(BenchError::setup)
}

fn family_run(
    label: &str,
    shape: &Shape,
    device: Device,
    kind: Kind,
    batch: i64,
    min_seconds: f64,
) -> Result<FamilyRun, BenchError> {
    let _guard = tch::no_grad_guard();
    let g = random_generator(shape, device, kind)?;
    let z = Tensor::randn([batch, shape.z_dim()], (Kind::Float, device));
    let w_plus = g.w_plus(&g.mapping(&z)).to_kind(kind);
    let calls = rate(device, 1, min_seconds, || {
        let _ = g.synthesis(&w_plus);
    });
    let frames_per_s = calls * batch as f64;
    Ok(FamilyRun {
        config: label.into(),
        size: shape.resolution(),
        batch,
        precision: precision(kind),
        frames_per_s,
        ms_per_frame: 1e3 / frames_per_s,
    })
}

/// Times each kind of step over `runs` syntheses, synchronising after every step.
fn profile(
    label: &str,
    config: &GeneratorConfig,
    device: Device,
    kind: Kind,
    batch: i64,
    runs: usize,
) -> Result<Vec<StepShare>, BenchError> {
    let _guard = tch::no_grad_guard();
    let g = stylegan3::Generator::new(&config.random_weights(7), config, device, kind)
        .map_err(BenchError::setup)?;
    let z = Tensor::randn([batch, config.z_dim], (Kind::Float, device));
    let w_plus = g
        .mapping(&z)
        .unsqueeze(1)
        .repeat([1, config.num_ws() as i64, 1]);
    let _ = g.synthesis(&w_plus);
    let mut totals: Vec<(String, f64)> = Vec::new();
    for _ in 0..runs.max(1) {
        sync(device);
        let mut last = Instant::now();
        let _ = g.synthesis_profiled(&w_plus, |step| {
            sync(device);
            let now = Instant::now();
            let spent = (now - last).as_secs_f64();
            last = now;
            match totals.iter_mut().find(|(s, _)| s == step) {
                Some((_, t)) => *t += spent,
                None => totals.push((step.to_string(), spent)),
            }
        });
    }
    let all: f64 = totals.iter().map(|(_, t)| t).sum();
    let frames = (runs.max(1) as i64 * batch) as f64;
    Ok(totals
        .into_iter()
        .map(|(step, t)| StepShare {
            config: label.into(),
            batch,
            precision: precision(kind),
            step,
            ms_per_frame: t * 1e3 / frames,
            share: t / all,
        })
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn restyle_run(
    label: &str,
    widths: [i64; 4],
    config: &GeneratorConfig,
    rounds: usize,
    device: Device,
    kind: Kind,
    batch: i64,
    min_seconds: f64,
) -> Result<RestyleRun, BenchError> {
    let _guard = tch::no_grad_guard();
    let shape = Shape::Stylegan3(config.clone());
    let g = random_generator(&shape, device, kind)?;
    let n = config.num_ws();
    let weights = restyle::random_weights(widths, config.w_dim, n, 13);
    let encoder = RestyleEncoder::new(&weights, device, kind).map_err(BenchError::setup)?;
    let latent_avg = Tensor::zeros([n as i64, config.w_dim], (kind, device));
    let photos = Tensor::rand([batch, 3, 256, 256], (kind, device)) * 2.0 - 1.0;
    let calls = rate(device, 1, min_seconds, || {
        let _ = restyle::encode(&encoder, &g, &latent_avg, &photos, rounds, |_| {});
    });
    Ok(RestyleRun {
        config: label.into(),
        rounds,
        batch,
        precision: precision(kind),
        encodes_per_s: calls * batch as f64,
    })
}

/// The parity fixtures' StyleGAN3 shapes: 64², z 64, w 32, narrow channels.
fn fixture(variant: Variant) -> Result<GeneratorConfig, BenchError> {
    let (base, max) = match variant {
        Variant::T => (1024.0, 64.0),
        Variant::R => (2048.0, 128.0),
    };
    GeneratorConfig::with_widths(variant, 64, (64, 32), base, max).map_err(BenchError::setup)
}

pub fn run(device: Device, min_seconds: f64) -> Result<Stylegan3Bench, BenchError> {
    let mut generator = Vec::new();
    let mut restyle = Vec::new();
    let sg3 = |v: Variant, size: i64| {
        GeneratorConfig::published(v, size)
            .map(Shape::Stylegan3)
            .map_err(BenchError::setup)
    };
    let sg2 = |size: i64| Shape::Stylegan2(stylegan2::GeneratorConfig::config_f(size));
    for (label, variant) in [("R fixture 64²", Variant::R), ("T fixture 64²", Variant::T)] {
        let shape = Shape::Stylegan3(fixture(variant)?);
        for batch in [1, 8] {
            generator.push(family_run(
                label,
                &shape,
                device,
                Kind::Float,
                batch,
                min_seconds,
            )?);
        }
    }
    // The published widths at a size a CPU gets through, and StyleGAN2's config-f beside them.
    let cpu_size = 256;
    for (label, shape) in [
        ("stylegan2 config-f", sg2(cpu_size)),
        ("stylegan3-T published", sg3(Variant::T, cpu_size)?),
        ("stylegan3-R published", sg3(Variant::R, cpu_size)?),
    ] {
        generator.push(family_run(
            label,
            &shape,
            device,
            Kind::Float,
            1,
            min_seconds,
        )?);
    }
    let mut profile_runs = profile(
        "stylegan3-R published 256²",
        &GeneratorConfig::published(Variant::R, cpu_size).map_err(BenchError::setup)?,
        device,
        Kind::Float,
        1,
        2,
    )?;
    restyle.push(restyle_run(
        "fixture encoder (IR-SE50 widths 16–32) + R fixture 64²",
        [16, 20, 24, 32],
        &fixture(Variant::R)?,
        3,
        device,
        Kind::Float,
        2,
        min_seconds,
    )?);
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(true);
        for (batch, kind) in [
            (1, Kind::Half),
            (8, Kind::Half),
            (32, Kind::Half),
            (1, Kind::Float),
            (16, Kind::Float),
        ] {
            generator.push(family_run(
                "stylegan3-R published",
                &sg3(Variant::R, 1024)?,
                device,
                kind,
                batch,
                min_seconds,
            )?);
        }
        for (label, shape) in [
            ("stylegan3-T published", sg3(Variant::T, 1024)?),
            ("stylegan2 config-f", sg2(1024)),
        ] {
            generator.push(family_run(
                label,
                &shape,
                device,
                Kind::Half,
                32,
                min_seconds,
            )?);
        }
        profile_runs.extend(profile(
            "stylegan3-R published 1024²",
            &GeneratorConfig::published(Variant::R, 1024).map_err(BenchError::setup)?,
            device,
            Kind::Half,
            8,
            3,
        )?);
        restyle.push(restyle_run(
            "IR-SE50 + stylegan3-R published 1024²",
            [64, 128, 256, 512],
            &GeneratorConfig::published(Variant::R, 1024).map_err(BenchError::setup)?,
            3,
            device,
            Kind::Half,
            8,
            min_seconds,
        )?);
    }
    Ok(Stylegan3Bench {
        generator,
        profile: profile_runs,
        restyle,
    })
}
