//! `lifelapse bench stylegan`: generator frames/s and encoder encodes/s with random weights (the
//! cost of a frame does not depend on the weights' values), at the parity fixtures' size on any
//! device and at the published 1024² config-f size when a CUDA device is present.

use super::BenchError;
use crate::nets::psp::{self, PspEncoder};
use crate::nets::stylegan2::{Generator, GeneratorConfig, RunOptions};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Serialize)]
pub struct StyleganBench {
    pub device: String,
    pub generator: Vec<GeneratorRun>,
    pub encoder: Vec<EncoderRun>,
    /// fp16 against fp32 on the same weights and codes (CUDA only).
    pub fp16_vs_fp32: Option<Fp16Check>,
    /// The fused-kernel route against the operator route, same weights, codes and precision
    /// (CUDA only; the kernels run nowhere else).
    pub fused_vs_operators: Vec<FusedCheck>,
    /// Where a batch's time goes, per convolution and epilogue (CUDA only).
    pub layer_profile: Vec<LayerTime>,
}

#[derive(Debug, Serialize)]
pub struct FusedCheck {
    pub config: String,
    pub precision: String,
    /// The fused route ran with NHWC activations.
    pub channels_last: bool,
    /// Fused against operators.
    #[serde(flatten)]
    pub diff: ImageDiff,
}

/// How far one route's images are from a reference's, on the same weights and codes.
#[derive(Debug, Serialize)]
pub struct ImageDiff {
    /// Largest |other − reference| over the images.
    pub max_abs_diff: f64,
    /// Mean |other − reference|.
    pub mean_abs_diff: f64,
    /// Largest |reference| (the images' scale).
    pub absmax: f64,
}

impl ImageDiff {
    pub(super) fn between(reference: &Tensor, other: &Tensor) -> Self {
        let (a, b) = (reference.to_kind(Kind::Double), other.to_kind(Kind::Double));
        let diff = (&a - &b).abs();
        Self {
            max_abs_diff: diff.max().double_value(&[]),
            mean_abs_diff: diff.mean(Kind::Double).double_value(&[]),
            absmax: a.abs().max().double_value(&[]),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LayerTime {
    /// "fused" or "operators".
    pub route: String,
    pub batch: i64,
    pub precision: String,
    pub step: String,
    pub ms_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct GeneratorRun {
    pub config: String,
    pub size: i64,
    pub batch: i64,
    pub precision: String,
    pub channels_last: bool,
    /// Up-sampling layers this narrow or narrower ran with the composed 6×6 kernel.
    pub fuse_up_max_channels: i64,
    /// Composed up-sampling ran as a 3×3 convolution and a pixel shuffle.
    pub polyphase: bool,
    /// The fused epilogue kernels ran (see `nets::cuda_kernels`).
    pub fused_epilogue: bool,
    pub frames_per_s: f64,
    pub ms_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct EncoderRun {
    pub config: String,
    pub batch: i64,
    pub precision: String,
    pub encodes_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Fp16Check {
    pub config: String,
    /// fp16 against fp32.
    #[serde(flatten)]
    pub diff: ImageDiff,
}

pub(super) fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn precision_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Half => "fp16",
        Kind::BFloat16 => "bf16",
        _ => "fp32",
    }
}

/// The parity fixtures' shape: 64², style width 64, two mapping layers, narrow channels.
pub fn fixture_config() -> GeneratorConfig {
    GeneratorConfig {
        size: 64,
        style_dim: 64,
        n_mlp: 2,
        lr_mlp: 0.01,
        channels: vec![64, 64, 64, 64, 32],
    }
}

/// Calls `f` until `min_seconds` have passed (after `warmup` calls) and returns calls/s.
pub(super) fn rate(device: Device, warmup: usize, min_seconds: f64, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    sync(device);
    let start = Instant::now();
    let mut calls = 0usize;
    loop {
        f();
        calls += 1;
        if calls >= 2 {
            sync(device);
            let t = start.elapsed().as_secs_f64();
            if t >= min_seconds {
                return calls as f64 / t;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn generator_run(
    label: &str,
    config: &GeneratorConfig,
    device: Device,
    kind: Kind,
    batch: i64,
    channels_last: bool,
    options: RunOptions,
    min_seconds: f64,
) -> Result<GeneratorRun, BenchError> {
    let _guard = tch::no_grad_guard();
    let weights = config.random_weights(7);
    let mut g = Generator::with_options(
        &weights,
        config,
        device,
        kind,
        RunOptions {
            channels_last,
            ..options
        },
    )
    .map_err(BenchError::setup)?;
    if channels_last && !g.uses_fused_kernels() {
        g.use_channels_last();
    }
    if options.fused_epilogue && device.is_cuda() && !g.uses_fused_kernels() {
        return Err(BenchError::Input(
            "the fused kernels were asked for but did not load (see the log)".into(),
        ));
    }
    let z = Tensor::randn([batch, config.style_dim], (Kind::Float, device));
    let w_plus = g.mix(&g.mapping(&z), None, 0);
    let calls = rate(device, 3, min_seconds, || {
        let _ = g.synthesis(&w_plus);
    });
    let frames_per_s = calls * batch as f64;
    tracing::info!("{label} batch {batch} {kind:?}: {frames_per_s:.1} frames/s");
    Ok(GeneratorRun {
        config: label.to_string(),
        size: config.size,
        batch,
        precision: precision_name(kind).into(),
        channels_last,
        fuse_up_max_channels: options.fuse_up_max_channels,
        polyphase: options.polyphase,
        fused_epilogue: g.uses_fused_kernels(),
        frames_per_s,
        ms_per_frame: 1e3 / frames_per_s,
    })
}

#[allow(clippy::too_many_arguments)]
fn encoder_run(
    label: &str,
    widths: [i64; 4],
    style_width: i64,
    n_styles: usize,
    device: Device,
    kind: Kind,
    batch: i64,
    min_seconds: f64,
) -> Result<EncoderRun, BenchError> {
    let _guard = tch::no_grad_guard();
    let weights = psp::random_weights(widths, style_width, n_styles, 11);
    let enc = PspEncoder::new(&weights, device, kind).map_err(BenchError::setup)?;
    let images = Tensor::rand([batch, 3, 256, 256], (kind, device)) * 2.0 - 1.0;
    let calls = rate(device, 2, min_seconds, || {
        let _ = enc.forward(&images);
    });
    Ok(EncoderRun {
        config: label.to_string(),
        batch,
        precision: precision_name(kind).into(),
        encodes_per_s: calls * batch as f64,
    })
}

fn fp16_check(
    config: &GeneratorConfig,
    label: &str,
    device: Device,
) -> Result<Fp16Check, BenchError> {
    let _guard = tch::no_grad_guard();
    let weights = config.random_weights(7);
    let build = |kind| Generator::new(&weights, config, device, kind).map_err(BenchError::setup);
    let (g32, g16) = (build(Kind::Float)?, build(Kind::Half)?);
    let z = Tensor::randn([4, config.style_dim], (Kind::Float, device));
    let w_plus = g32.mix(&g32.mapping(&z), None, 0);
    Ok(Fp16Check {
        config: label.to_string(),
        diff: ImageDiff::between(&g32.synthesis(&w_plus), &g16.synthesis(&w_plus)),
    })
}

/// The fused route against the operator route on the same random weights and codes.
fn fused_check(
    config: &GeneratorConfig,
    label: &str,
    device: Device,
    kind: Kind,
    channels_last: bool,
) -> Result<FusedCheck, BenchError> {
    let _guard = tch::no_grad_guard();
    let weights = config.random_weights(7);
    let build = |fused_epilogue| {
        let options = RunOptions {
            fused_epilogue,
            channels_last,
            ..RunOptions::default()
        };
        Generator::with_options(&weights, config, device, kind, options).map_err(BenchError::setup)
    };
    let (fused, operators) = (build(true)?, build(false)?);
    if !fused.uses_fused_kernels() {
        return Err(BenchError::Input(
            "the fused kernels did not load (see the log)".into(),
        ));
    }
    let z = Tensor::randn([4, config.style_dim], (Kind::Float, device));
    let w_plus = operators.mix(&operators.mapping(&z), None, 0);
    Ok(FusedCheck {
        config: label.to_string(),
        precision: precision_name(kind).into(),
        channels_last,
        diff: ImageDiff::between(&operators.synthesis(&w_plus), &fused.synthesis(&w_plus)),
    })
}

/// Per-step time of one synthesis batch, averaged over `repeats` batches after a warm-up.
fn layer_profile_run(
    config: &GeneratorConfig,
    device: Device,
    kind: Kind,
    batch: i64,
    fused_epilogue: bool,
    channels_last: bool,
    repeats: usize,
) -> Result<Vec<LayerTime>, BenchError> {
    let _guard = tch::no_grad_guard();
    let weights = config.random_weights(7);
    let options = RunOptions {
        fused_epilogue,
        channels_last,
        ..RunOptions::default()
    };
    let g = Generator::with_options(&weights, config, device, kind, options)
        .map_err(BenchError::setup)?;
    let z = Tensor::randn([batch, config.style_dim], (Kind::Float, device));
    let w_plus = g.mix(&g.mapping(&z), None, 0);
    let mut steps: Vec<(String, f64)> = Vec::new();
    for round in 0..=repeats {
        sync(device);
        let mut last = Instant::now();
        let mut index = 0;
        let _ = g.synthesis_profiled(&w_plus, |name| {
            sync(device);
            let now = Instant::now();
            if round > 0 {
                let seconds = (now - last).as_secs_f64();
                match steps.get_mut(index) {
                    Some(entry) => entry.1 += seconds,
                    None => steps.push((name.to_string(), seconds)),
                }
            }
            index += 1;
            last = now;
        });
    }
    let route = match (g.uses_fused_kernels(), channels_last) {
        (true, true) => "fused, NHWC",
        (true, false) => "fused",
        (false, _) => "operators",
    };
    Ok(steps
        .into_iter()
        .map(|(step, seconds)| LayerTime {
            route: route.into(),
            batch,
            precision: precision_name(kind).into(),
            step,
            ms_per_frame: seconds * 1e3 / (repeats as f64 * batch as f64),
        })
        .collect())
}

/// Runs the StyleGAN2 benchmark on `device`. `min_seconds` is the time spent per measurement.
pub fn run(device: Device, min_seconds: f64) -> Result<StyleganBench, BenchError> {
    let fixture = fixture_config();
    let mut generator = Vec::new();
    let mut encoder = Vec::new();
    let mut fp16_vs_fp32 = None;
    let mut fused_vs_operators = Vec::new();
    let mut layer_profile = Vec::new();
    let fixture_label = "fixture (64², style 64, narrow)";
    for batch in [1, 8] {
        generator.push(generator_run(
            fixture_label,
            &fixture,
            device,
            Kind::Float,
            batch,
            false,
            RunOptions::default(),
            min_seconds,
        )?);
    }
    let narrow = [16, 32, 48, 64];
    encoder.push(encoder_run(
        "fixture encoder (IR-SE50 widths 16–64)",
        narrow,
        64,
        10,
        device,
        Kind::Float,
        4,
        min_seconds,
    )?);
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(true);
        let full = GeneratorConfig::config_f(1024);
        let label = "config-f 1024²";
        // (batch, precision, NHWC, fused epilogue, composed up-sampling up to, polyphase)
        let all = i64::MAX;
        for (batch, kind, channels_last, fused_epilogue, fuse, polyphase) in [
            (32, Kind::Half, false, false, all, false),
            (16, Kind::Float, false, false, all, false),
            (32, Kind::Half, false, true, all, false),
            (128, Kind::Half, false, true, all, false),
            (1, Kind::Half, true, true, all, false),
            (8, Kind::Half, true, true, all, false),
            (32, Kind::Half, true, true, all, false),
            (64, Kind::Half, true, true, all, false),
            (128, Kind::Half, true, true, all, false),
            (16, Kind::Float, true, true, all, false),
        ] {
            generator.push(generator_run(
                label,
                &full,
                device,
                kind,
                batch,
                channels_last,
                RunOptions {
                    fuse_up_max_channels: fuse,
                    polyphase,
                    fused_epilogue,
                    channels_last,
                },
                min_seconds,
            )?);
        }
        for kind in [Kind::Float, Kind::Half] {
            for channels_last in [false, true] {
                for (config, label) in [(&fixture, fixture_label), (&full, label)] {
                    fused_vs_operators.push(fused_check(
                        config,
                        label,
                        device,
                        kind,
                        channels_last,
                    )?);
                }
            }
        }
        for (fused, channels_last) in [(false, false), (true, false), (true, true)] {
            layer_profile.extend(layer_profile_run(
                &full,
                device,
                Kind::Half,
                32,
                fused,
                channels_last,
                5,
            )?);
        }
        let published = [64, 128, 256, 512];
        for (batch, kind) in [(1, Kind::Float), (32, Kind::Float), (128, Kind::Half)] {
            encoder.push(encoder_run(
                "pSp IR-SE50 (published widths, 18 styles)",
                published,
                512,
                18,
                device,
                kind,
                batch,
                min_seconds,
            )?);
        }
        fp16_vs_fp32 = Some(fp16_check(&full, label, device)?);
    }
    Ok(StyleganBench {
        device: crate::nets::device::describe(device),
        generator,
        encoder,
        fp16_vs_fp32,
        fused_vs_operators,
        layer_profile,
    })
}
