//! The StyleGAN3 part of `lifelapse bench stylegan`: generator frames/s (R and T), where a
//! frame's time goes (modulated convolutions against filtered leaky ReLUs), and ReStyle
//! encodes/s with its rounds of refinement, all with random weights. StyleGAN2 at the same
//! size runs in the same measurement, the peer the paper's cost ratios are stated against.

use super::stylegan::{rate, sync, FusedCheck, ImageDiff};
use super::BenchError;
use crate::nets::filtered_lrelu_kernel::FilterCores;
use crate::nets::generative::{Generator, Shape};
use crate::nets::restyle::{self, RestyleEncoder};
use crate::nets::stylegan2;
use crate::nets::stylegan3::{GeneratorConfig, LayerPlan, SynthesisStep, Variant};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

#[derive(Debug, Serialize)]
pub struct Stylegan3Bench {
    pub device: String,
    pub generator: Vec<FamilyRun>,
    /// StyleGAN3 with its fused filtered leaky ReLU against the operators, same weights, codes
    /// and precision (CUDA only; the kernel runs nowhere else).
    pub fused_vs_operators: Vec<FusedCheck>,
    /// Share of a frame's time per kind of step.
    pub profile: Vec<StepShare>,
    /// Each layer's filtered leaky ReLU in the same runs.
    pub layer_filters: Vec<LayerFilter>,
    pub restyle: Vec<RestyleRun>,
}

#[derive(Debug, Serialize)]
pub struct FamilyRun {
    pub config: String,
    pub size: i64,
    pub batch: i64,
    pub precision: String,
    /// The family's fused CUDA kernels ran (for StyleGAN3 the filtered leaky ReLU of
    /// `nets::filtered_lrelu_kernel`).
    pub fused_kernels: bool,
    /// Which cores ran StyleGAN3's fused kernel on fp16 radial layers.
    pub filter_cores: Option<FilterCores>,
    pub frames_per_s: f64,
    pub ms_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct StepShare {
    pub config: String,
    pub batch: i64,
    pub precision: String,
    pub fused_kernels: bool,
    pub filter_cores: Option<FilterCores>,
    /// `input`, `conv` (modulated convolutions) or `filter` (demodulation, bias, up-sampling
    /// filter, leaky ReLU, down-sampling filter).
    pub step: String,
    pub ms_per_frame: f64,
    pub share: f64,
}

/// One layer's filtered leaky ReLU in a profile: its time, and its time per output sample of
/// one channel, the unit the kernel's design was counted in (docs/performance.md).
#[derive(Debug, Serialize)]
pub struct LayerFilter {
    pub config: String,
    pub batch: i64,
    pub precision: String,
    pub fused_kernels: bool,
    pub filter_cores: Option<FilterCores>,
    pub layer: String,
    pub up: i64,
    pub radial: bool,
    pub out_size: i64,
    pub channels: i64,
    pub ms_per_frame: f64,
    pub ns_per_output: f64,
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

/// What a run asks of a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Operators,
    /// The fused kernels as the product runs them (StyleGAN3's fp16 radial layers on the
    /// tensor cores where that pass loaded).
    Fused,
    /// The fused kernels with every radial layer on the CUDA cores: the tensor cores' peer.
    FusedOnCudaCores,
}

impl Route {
    fn fused(self) -> bool {
        self != Route::Operators
    }
}

/// A generator of `shape` with random weights on `route`. Fused kernels asked for on a GPU
/// must load: a figure is never labelled with a route that did not run.
fn random_generator(
    shape: &Shape,
    device: Device,
    kind: Kind,
    route: Route,
) -> Result<Generator, BenchError> {
    let weights = match shape {
        Shape::Stylegan2(c) => c.random_weights(7),
        Shape::Stylegan3(c) => c.random_weights(7),
    };
    let g = Generator::with_kernels(&weights, shape, device, kind, route.fused())
        .map_err(BenchError::setup)?;
    if route == Route::FusedOnCudaCores {
        if let Some(g) = g.stylegan3() {
            g.set_filter_cores(FilterCores::CudaCores);
        }
    }
    check_route(&g, device, route)?;
    Ok(g)
}

fn check_route(g: &Generator, device: Device, route: Route) -> Result<(), BenchError> {
    if route.fused() && device.is_cuda() && !g.uses_fused_kernels() {
        return Err(BenchError::Input(
            "the fused kernels were asked for but did not run (see the log)".into(),
        ));
    }
    Ok(())
}

/// Which cores a StyleGAN3 generator's fused kernel runs radial layers on now.
fn filter_cores_of(g: &Generator) -> Option<FilterCores> {
    g.stylegan3().and_then(|g| g.filter_cores())
}

#[allow(clippy::too_many_arguments)]
fn family_run(
    label: &str,
    shape: &Shape,
    device: Device,
    kind: Kind,
    batch: i64,
    route: Route,
    min_seconds: f64,
) -> Result<FamilyRun, BenchError> {
    let _guard = tch::no_grad_guard();
    let g = random_generator(shape, device, kind, route)?;
    let z = Tensor::randn([batch, shape.z_dim()], (Kind::Float, device));
    let w_plus = g.w_plus(&g.mapping(&z)).to_kind(kind);
    let calls = rate(device, 1, min_seconds, || {
        let _ = g.synthesis(&w_plus);
    });
    // A kernel that failed mid-run hands over to the operators; its figure would be theirs.
    check_route(&g, device, route)?;
    let frames_per_s = calls * batch as f64;
    // Each figure goes to the log as it is taken, so that a run cut short still reports it.
    tracing::info!(
        "{label} {}² batch {batch} {kind:?} {route:?} (filter cores {:?}): {frames_per_s:.2} frames/s",
        shape.resolution(),
        filter_cores_of(&g)
    );
    Ok(FamilyRun {
        config: label.into(),
        size: shape.resolution(),
        batch,
        precision: precision(kind),
        fused_kernels: g.uses_fused_kernels(),
        filter_cores: filter_cores_of(&g),
        frames_per_s,
        ms_per_frame: 1e3 / frames_per_s,
    })
}

/// Times each kind of step, and each layer's filtered leaky ReLU, over `runs` syntheses,
/// synchronising after every step.
#[allow(clippy::too_many_arguments)]
fn profile(
    label: &str,
    config: &GeneratorConfig,
    device: Device,
    kind: Kind,
    batch: i64,
    route: Route,
    runs: usize,
) -> Result<(Vec<StepShare>, Vec<LayerFilter>), BenchError> {
    let _guard = tch::no_grad_guard();
    let shape = Shape::Stylegan3(config.clone());
    let generator = random_generator(&shape, device, kind, route)?;
    let g = generator
        .stylegan3()
        .ok_or_else(|| BenchError::Input("not a StyleGAN3 generator".into()))?;
    let z = Tensor::randn([batch, config.z_dim], (Kind::Float, device));
    let w_plus = g
        .mapping(&z)
        .unsqueeze(1)
        .repeat([1, config.num_ws() as i64, 1]);
    let _ = g.synthesis(&w_plus);
    let mut totals: Vec<(&'static str, f64)> = Vec::new();
    // Per layer, in synthesis order: its plan and the seconds its filters took.
    let mut layers: Vec<(LayerPlan, f64)> = Vec::new();
    for _ in 0..runs.max(1) {
        sync(device);
        let mut last = Instant::now();
        let _ = g.synthesis_profiled(&w_plus, |step| {
            sync(device);
            let now = Instant::now();
            let spent = (now - last).as_secs_f64();
            last = now;
            match totals.iter_mut().find(|(s, _)| *s == step.kind()) {
                Some((_, t)) => *t += spent,
                None => totals.push((step.kind(), spent)),
            }
            if let SynthesisStep::Filter(plan) = step {
                match layers.iter_mut().find(|(p, _)| p.name == plan.name) {
                    Some((_, t)) => *t += spent,
                    None => layers.push((plan.clone(), spent)),
                }
            }
        });
    }
    check_route(&generator, device, route)?;
    let all: f64 = totals.iter().map(|(_, t)| t).sum();
    let frames = (runs.max(1) as i64 * batch) as f64;
    let fused_kernels = g.uses_fused_kernels();
    let filter_cores = g.filter_cores();
    let steps = totals
        .into_iter()
        .map(|(step, t)| {
            let ms_per_frame = t * 1e3 / frames;
            tracing::info!(
                "{label} batch {batch} {kind:?} {route:?}: {step} {ms_per_frame:.2} ms/frame"
            );
            StepShare {
                config: label.into(),
                batch,
                precision: precision(kind),
                fused_kernels,
                filter_cores,
                step: step.into(),
                ms_per_frame,
                share: t / all,
            }
        })
        .collect();
    let layer_filters = layers
        .into_iter()
        .map(|(plan, t)| {
            let ms_per_frame = t * 1e3 / frames;
            tracing::info!(
                "{label} batch {batch} {kind:?} {route:?}: filters of {} {ms_per_frame:.3} ms/frame",
                plan.name
            );
            LayerFilter {
                config: label.into(),
                batch,
                precision: precision(kind),
                fused_kernels,
                filter_cores,
                up: plan.up,
                radial: plan.down_radial,
                out_size: plan.out_size,
                channels: plan.out_channels,
                ms_per_frame,
                ns_per_output: t * 1e9
                    / (frames * (plan.out_size * plan.out_size * plan.out_channels) as f64),
                layer: plan.name,
            }
        })
        .collect();
    Ok((steps, layer_filters))
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
    let g = random_generator(&shape, device, kind, Route::Fused)?;
    let n = config.num_ws();
    let weights = restyle::random_weights(widths, config.w_dim, n, 13);
    let encoder = RestyleEncoder::new(&weights, device, kind).map_err(BenchError::setup)?;
    let latent_avg = Tensor::zeros([n as i64, config.w_dim], (kind, device));
    let photos = Tensor::rand([batch, 3, 256, 256], (kind, device)) * 2.0 - 1.0;
    let calls = rate(device, 1, min_seconds, || {
        let _ = restyle::encode(&encoder, &g, &latent_avg, &photos, rounds, |_| {});
    });
    tracing::info!(
        "ReStyle {label} batch {batch} {kind:?}: {:.2} encodes/s",
        calls * batch as f64
    );
    Ok(RestyleRun {
        config: label.into(),
        rounds,
        batch,
        precision: precision(kind),
        encodes_per_s: calls * batch as f64,
    })
}

/// The fused route against the operator route on the same random weights and codes.
fn fused_check(
    label: &str,
    config: &GeneratorConfig,
    device: Device,
    kind: Kind,
) -> Result<FusedCheck, BenchError> {
    let _guard = tch::no_grad_guard();
    let shape = Shape::Stylegan3(config.clone());
    let fused = random_generator(&shape, device, kind, Route::Fused)?;
    let operators = random_generator(&shape, device, kind, Route::Operators)?;
    let z = Tensor::randn([4, config.z_dim], (Kind::Float, device));
    let w_plus = operators.w_plus(&operators.mapping(&z));
    let diff = ImageDiff::between(&operators.synthesis(&w_plus), &fused.synthesis(&w_plus));
    check_route(&fused, device, Route::Fused)?;
    tracing::info!(
        "{label} {kind:?} fused (filter cores {:?}) vs operators: max |diff| {:.3e}, mean {:.3e}, image absmax {:.3}",
        filter_cores_of(&fused),
        diff.max_abs_diff,
        diff.mean_abs_diff,
        diff.absmax
    );
    Ok(FusedCheck {
        config: label.to_string(),
        precision: precision(kind),
        channels_last: false,
        diff,
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
                Route::Fused,
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
            Route::Fused,
            min_seconds,
        )?);
    }
    let (mut profile_runs, mut layer_filters) = profile(
        "stylegan3-R published 256²",
        &GeneratorConfig::published(Variant::R, cpu_size).map_err(BenchError::setup)?,
        device,
        Kind::Float,
        1,
        Route::Fused,
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
    let mut fused_vs_operators = Vec::new();
    if let Device::Cuda(_) = device {
        tch::Cuda::cudnn_set_benchmark(true);
        let r1024 = GeneratorConfig::published(Variant::R, 1024).map_err(BenchError::setup)?;
        let t1024 = GeneratorConfig::published(Variant::T, 1024).map_err(BenchError::setup)?;
        for (label, config) in [
            ("stylegan3-R published 1024²", &r1024),
            ("stylegan3-T published 1024²", &t1024),
        ] {
            for kind in [Kind::Half, Kind::Float] {
                fused_vs_operators.push(fused_check(label, config, device, kind)?);
            }
        }
        // (batch, precision, route): the kernel's route at each size, the operators' beside it
        // at the batched sizes, and in fp16 the kernel with radial layers on the CUDA cores.
        for (batch, kind, route) in [
            (1, Kind::Half, Route::Fused),
            (1, Kind::Half, Route::FusedOnCudaCores),
            (8, Kind::Half, Route::Fused),
            (32, Kind::Half, Route::Fused),
            (32, Kind::Half, Route::FusedOnCudaCores),
            (32, Kind::Half, Route::Operators),
            (1, Kind::Float, Route::Fused),
            (16, Kind::Float, Route::Fused),
            (16, Kind::Float, Route::Operators),
        ] {
            generator.push(family_run(
                "stylegan3-R published",
                &Shape::Stylegan3(r1024.clone()),
                device,
                kind,
                batch,
                route,
                min_seconds,
            )?);
        }
        for (label, shape, route) in [
            (
                "stylegan3-T published",
                Shape::Stylegan3(t1024.clone()),
                Route::Fused,
            ),
            (
                "stylegan3-T published",
                Shape::Stylegan3(t1024.clone()),
                Route::Operators,
            ),
            ("stylegan2 config-f", sg2(1024), Route::Fused),
        ] {
            generator.push(family_run(
                label,
                &shape,
                device,
                Kind::Half,
                32,
                route,
                min_seconds,
            )?);
        }
        for route in [Route::Fused, Route::FusedOnCudaCores, Route::Operators] {
            let (steps, layers) = profile(
                "stylegan3-R published 1024²",
                &r1024,
                device,
                Kind::Half,
                8,
                route,
                3,
            )?;
            profile_runs.extend(steps);
            layer_filters.extend(layers);
        }
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
        device: crate::nets::device::describe(device),
        generator,
        fused_vs_operators,
        profile: profile_runs,
        layer_filters,
        restyle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The profile's per-layer filter times account for its `filter` step, layer by layer in
    /// synthesis order, with the layers' shapes.
    #[test]
    fn the_profile_times_each_layers_filters() {
        let config = fixture(Variant::R).expect("the fixture's shape");
        let (steps, layers) = profile(
            "R fixture",
            &config,
            Device::Cpu,
            Kind::Float,
            1,
            Route::Operators,
            2,
        )
        .expect("runs");
        let names: Vec<&str> = layers.iter().map(|l| l.layer.as_str()).collect();
        let planned: Vec<&str> = config.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, planned);
        let filter = steps
            .iter()
            .find(|s| s.step == "filter")
            .expect("a filter step");
        let sum: f64 = layers.iter().map(|l| l.ms_per_frame).sum();
        assert!(
            (sum - filter.ms_per_frame).abs() < 1e-6 * filter.ms_per_frame.max(1.0),
            "{sum} against {}",
            filter.ms_per_frame
        );
        for (l, plan) in layers.iter().zip(&config.layers) {
            assert_eq!((l.up, l.radial), (plan.up, plan.down_radial));
            let outputs = (plan.out_size * plan.out_size * plan.out_channels) as f64;
            assert!(
                l.ns_per_output > 0.0
                    && (l.ns_per_output * outputs - l.ms_per_frame * 1e6).abs()
                        < 1e-6 * l.ms_per_frame * 1e6,
                "{l:?}"
            );
        }
    }
}
