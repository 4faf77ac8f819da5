//! The StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks",
//! <https://arxiv.org/abs/2106.12423>), for the tensor names of NVIDIA's checkpoints
//! (`mapping.fc{i}`, `synthesis.input`, `synthesis.L{i}_{size}_{channels}`).
//!
//! The network treats its feature maps as continuous signals sampled at a known rate: the input
//! is a set of Fourier features (rotated and translated by the first w), and every layer is a
//! modulated convolution followed by a *filtered* leaky ReLU — up-sample with a low-pass filter,
//! apply the non-linearity at the higher rate, low-pass and down-sample again — so no layer
//! creates frequencies its sampling rate cannot carry. The last layers crop the margin away.
//!
//! Channel widths, kernel size (1 for the R configuration, 3 for T), mapping depth, resolution
//! and the filters themselves are read from the tensors. Sizes, sampling rates and paddings
//! follow from the design hyper-parameters of §3.2 and appendix F ([`Design`]): defaults are the
//! published ones, a checkpoint that stores its constructor arguments (NVIDIA's pickles do) has
//! them read, and the derived sizes are checked against the sizes the layer names carry.

use super::cuda_kernels::KernelError;
use super::filtered_lrelu_kernel::{
    FilterCores, FilteredLreluInput, FilteredLreluKernels, KernelTaps,
};
use super::layers::EqualLinear;
use super::tensor_set::{TensorSet, TensorSetError};
use std::f64::consts::{PI, SQRT_2};
use std::sync::atomic::{AtomicBool, Ordering};
use tch::{Device, Kind, Tensor};

/// The design hyper-parameters that are not in the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Final layers that are critically sampled (no extra margin above their cutoff).
    pub num_critical: usize,
    /// Cutoff frequency of the first layer, in cycles per unit.
    pub first_cutoff: f64,
    /// Minimum stop band of the first layer.
    pub first_stopband: f64,
    /// Minimum stop band of the last layer, relative to its cutoff.
    pub last_stopband_rel: f64,
    /// Extra pixels on each side of the feature maps.
    pub margin_size: i64,
    /// Scale of the output image.
    pub output_scale: f64,
    /// Activations are clamped to ±this (NVIDIA trains with 256).
    pub conv_clamp: Option<f64>,
    /// Taps per up- or down-sampling factor of the low-pass filters.
    pub filter_size: i64,
    /// How much the leaky ReLU's sampling rate exceeds the layer's.
    pub lrelu_upsampling: i64,
    /// The mapping network's learning-rate multiplier (its weights are stored divided by it).
    pub mapping_lr: f64,
}

impl Default for Design {
    fn default() -> Self {
        Self {
            num_critical: 2,
            first_cutoff: 2.0,
            first_stopband: 2f64.powf(2.1),
            last_stopband_rel: 2f64.powf(0.3),
            margin_size: 10,
            output_scale: 0.25,
            conv_clamp: Some(256.0),
            filter_size: 6,
            lrelu_upsampling: 2,
            mapping_lr: 0.01,
        }
    }
}

impl Design {
    /// The design from a generator's constructor arguments (NVIDIA's `init_kwargs`, flattened
    /// or not); what they leave out keeps its default.
    pub fn from_init_kwargs(kwargs: &serde_json::Map<String, serde_json::Value>) -> Self {
        let d = Self::default();
        let num =
            |key: &str, default: f64| kwargs.get(key).and_then(|v| v.as_f64()).unwrap_or(default);
        let mapping_lr = kwargs
            .get("mapping_kwargs")
            .and_then(|m| m.get("lr_multiplier"))
            .and_then(|v| v.as_f64())
            .unwrap_or(d.mapping_lr);
        let conv_clamp = match kwargs.get("conv_clamp") {
            Some(serde_json::Value::Null) => None,
            Some(v) => v.as_f64().or(d.conv_clamp),
            None => d.conv_clamp,
        };
        Self {
            num_critical: num("num_critical", d.num_critical as f64) as usize,
            first_cutoff: num("first_cutoff", d.first_cutoff),
            first_stopband: num("first_stopband", d.first_stopband),
            last_stopband_rel: num("last_stopband_rel", d.last_stopband_rel),
            margin_size: num("margin_size", d.margin_size as f64) as i64,
            output_scale: num("output_scale", d.output_scale),
            conv_clamp,
            filter_size: num("filter_size", d.filter_size as f64) as i64,
            lrelu_upsampling: num("lrelu_upsampling", d.lrelu_upsampling as f64) as i64,
            mapping_lr,
        }
    }
}

/// The Fourier-feature input.
#[derive(Debug, Clone, PartialEq)]
pub struct InputPlan {
    pub channels: i64,
    pub size: i64,
    pub sampling_rate: f64,
    pub bandwidth: f64,
}

/// One synthesis layer as the design lays it out.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    /// Tensor prefix under `synthesis.`, e.g. `L4_52_128`.
    pub name: String,
    pub in_channels: i64,
    pub out_channels: i64,
    pub in_size: i64,
    pub out_size: i64,
    pub up: i64,
    pub down: i64,
    pub up_taps: i64,
    pub down_taps: i64,
    /// A 2-D (radial) down-sampling filter rather than a separable one.
    pub down_radial: bool,
    /// Padding before the up-sampling filter, [x0, x1, y0, y1]; negative crops.
    pub padding: [i64; 4],
    /// The final 1×1 layer to RGB: no demodulation, no filters, linear.
    pub to_rgb: bool,
    /// Its cutoff and stop band, for designing a filter (random weights only).
    pub in_cutoff: f64,
    pub out_cutoff: f64,
    pub in_half_width: f64,
    pub out_half_width: f64,
    pub tmp_sampling_rate: f64,
}

/// The shape of a StyleGAN3 generator.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    pub z_dim: i64,
    pub w_dim: i64,
    pub mapping_layers: usize,
    /// Output resolution.
    pub resolution: i64,
    /// Kernel of the modulated convolutions (1: StyleGAN3-R, 3: StyleGAN3-T).
    pub conv_kernel: i64,
    pub design: Design,
    pub input: InputPlan,
    pub layers: Vec<LayerPlan>,
}

/// The published configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Translation-equivariant: 3×3 convolutions, separable filters.
    T,
    /// Rotation-equivariant: 1×1 convolutions, radial down-sampling filters, twice the width.
    R,
}

impl GeneratorConfig {
    /// The layer table for a resolution and channel widths (`channels[i]` = output channels
    /// of layer i; the input has `input_channels`), following §3.2 of the paper: cutoffs grow
    /// geometrically from `first_cutoff` to half the resolution over the non-critical layers,
    /// stop bands likewise, each layer samples at the power of two above twice its stop band,
    /// and a margin is kept around every map except the last two.
    #[allow(clippy::too_many_arguments)]
    pub fn designed(
        z_dim: i64,
        w_dim: i64,
        mapping_layers: usize,
        resolution: i64,
        conv_kernel: i64,
        radial: bool,
        input_channels: i64,
        channels: &[i64],
        design: Design,
    ) -> Result<Self, TensorSetError> {
        let n = channels.len(); // synthesis layers, the last one to RGB
        if n < design.num_critical + 2 || resolution < 4 {
            return Err(TensorSetError::Architecture(format!(
                "{n} synthesis layers at {resolution} px"
            )));
        }
        let num_layers = n - 1;
        let last_cutoff = resolution as f64 / 2.0;
        let last_stopband = last_cutoff * design.last_stopband_rel;
        let denom = (num_layers - design.num_critical) as f64;
        let exponent = |i: usize| (i as f64 / denom).min(1.0);
        let cutoffs: Vec<f64> = (0..n)
            .map(|i| design.first_cutoff * (last_cutoff / design.first_cutoff).powf(exponent(i)))
            .collect();
        let stopbands: Vec<f64> = (0..n)
            .map(|i| {
                design.first_stopband * (last_stopband / design.first_stopband).powf(exponent(i))
            })
            .collect();
        let rates: Vec<f64> = stopbands
            .iter()
            .map(|s| (s * 2.0).min(resolution as f64).log2().ceil().exp2())
            .collect();
        let half_widths: Vec<f64> = (0..n)
            .map(|i| stopbands[i].max(rates[i] / 2.0) - cutoffs[i])
            .collect();
        let mut sizes: Vec<i64> = rates
            .iter()
            .map(|r| *r as i64 + design.margin_size * 2)
            .collect();
        sizes[n - 2] = resolution;
        sizes[n - 1] = resolution;

        let layers = (0..n)
            .map(|i| {
                let prev = i.saturating_sub(1);
                let to_rgb = i == num_layers;
                let critical = i >= num_layers - design.num_critical;
                let factor = if to_rgb {
                    1.0
                } else {
                    design.lrelu_upsampling as f64
                };
                let tmp = rates[prev].max(rates[i]) * factor;
                let up = (tmp / rates[prev]).round() as i64;
                let down = (tmp / rates[i]).round() as i64;
                let taps = |f: i64| {
                    if f > 1 && !to_rgb {
                        design.filter_size * f
                    } else {
                        1
                    }
                };
                let (up_taps, down_taps) = (taps(up), taps(down));
                let k = if to_rgb { 1 } else { conv_kernel };
                // Desired size before down-sampling, minus the up-sampled input, plus what the
                // two filters take away; split to keep sample positions symmetric (appendix C.3).
                let total =
                    (sizes[i] - 1) * down + 1 - (sizes[prev] + k - 1) * up + up_taps + down_taps
                        - 2;
                let lo = (total + up).div_euclid(2);
                let hi = total - lo;
                let in_channels = if i == 0 {
                    input_channels
                } else {
                    channels[i - 1]
                };
                LayerPlan {
                    name: format!("L{i}_{}_{}", sizes[i], channels[i]),
                    in_channels,
                    out_channels: channels[i],
                    in_size: sizes[prev],
                    out_size: sizes[i],
                    up,
                    down,
                    up_taps,
                    down_taps,
                    down_radial: radial && !critical,
                    padding: [lo, hi, lo, hi],
                    to_rgb,
                    in_cutoff: cutoffs[prev],
                    out_cutoff: cutoffs[i],
                    in_half_width: half_widths[prev],
                    out_half_width: half_widths[i],
                    tmp_sampling_rate: tmp,
                }
            })
            .collect();
        Ok(Self {
            z_dim,
            w_dim,
            mapping_layers,
            resolution,
            conv_kernel,
            input: InputPlan {
                channels: input_channels,
                size: sizes[0],
                sampling_rate: rates[0],
                bandwidth: cutoffs[0],
            },
            layers,
            design,
        })
    }

    /// The published configuration at `resolution` (z and w of 512, two mapping layers).
    pub fn published(variant: Variant, resolution: i64) -> Result<Self, TensorSetError> {
        let (base, max) = match variant {
            Variant::T => (32768.0, 512.0),
            Variant::R => (65536.0, 1024.0),
        };
        Self::with_widths(variant, resolution, (512, 512), base, max)
    }

    /// A configuration of `variant` with NVIDIA's width rule: channels fall as the cutoff
    /// rises, `channel_base / (2 · cutoff)`, at most `channel_max`; `dims` are z's and w's widths.
    pub fn with_widths(
        variant: Variant,
        resolution: i64,
        dims: (i64, i64),
        channel_base: f64,
        channel_max: f64,
    ) -> Result<Self, TensorSetError> {
        let (kernel, radial) = match variant {
            Variant::T => (3, false),
            Variant::R => (1, true),
        };
        let (z_dim, w_dim) = dims;
        let design = Design::default();
        let probe = Self::designed(
            z_dim, w_dim, 2, resolution, kernel, radial, 1, &[1; 15], design,
        )?;
        let width = |cutoff: f64| ((channel_base / 2.0) / cutoff).min(channel_max).round() as i64;
        let mut channels: Vec<i64> = probe.layers.iter().map(|l| width(l.out_cutoff)).collect();
        if let Some(last) = channels.last_mut() {
            *last = 3;
        }
        let input = width(probe.input.bandwidth);
        Self::designed(
            z_dim,
            w_dim,
            2,
            resolution,
            kernel,
            radial,
            input,
            &channels,
            probe.design,
        )
    }

    /// Reads the shape from a generator's tensors (names as in NVIDIA's `G_ema`) and checks the
    /// design against the sizes in the layer names.
    pub fn from_tensors(t: &TensorSet, design: Design) -> Result<Self, TensorSetError> {
        let arch = |m: String| TensorSetError::Architecture(m);
        let shape = |name: &str, rank: usize| -> Result<Vec<i64>, TensorSetError> {
            let s = t.shape(name)?;
            if s.len() != rank {
                return Err(arch(format!(
                    "{name} has shape {s:?}, not {rank} dimensions"
                )));
            }
            Ok(s)
        };
        let fc0 = shape("mapping.fc0.weight", 2)?;
        let (w_dim, z_dim) = (fc0[0], fc0[1]);
        let mapping_layers = (0..)
            .take_while(|i| t.contains(&format!("mapping.fc{i}.weight")))
            .count();
        let input_channels = shape("synthesis.input.weight", 2)?[0];
        // Layer prefixes in order: `synthesis.L{i}_…`.
        let mut names = Vec::new();
        for i in 0.. {
            let prefix = format!("synthesis.L{i}_");
            let Some(name) = t
                .names()
                .find(|n| n.starts_with(&prefix))
                .and_then(|n| n["synthesis.".len()..].split('.').next())
            else {
                break;
            };
            names.push(name.to_string());
        }
        let mut channels = Vec::new();
        let mut conv_kernel = 1;
        let mut radial = false;
        for (i, name) in names.iter().enumerate() {
            let w = shape(&format!("synthesis.{name}.weight"), 4)?;
            channels.push(w[0]);
            if i == 0 {
                conv_kernel = w[2];
                radial = t
                    .shape(&format!("synthesis.{name}.down_filter"))
                    .is_ok_and(|s| s.len() == 2);
            }
        }
        let size_of = |name: &str| name.split('_').nth(1).and_then(|s| s.parse::<i64>().ok());
        let resolution = names
            .last()
            .and_then(|n| size_of(n))
            .ok_or_else(|| arch("no synthesis layers (synthesis.L0_…)".into()))?;
        let config = Self::designed(
            z_dim,
            w_dim,
            mapping_layers,
            resolution,
            conv_kernel,
            radial,
            input_channels,
            &channels,
            design,
        )?;
        for (plan, name) in config.layers.iter().zip(&names) {
            if plan.name != *name {
                return Err(arch(format!(
                    "layer {name} does not follow the StyleGAN3 design ({} expected)",
                    plan.name
                )));
            }
        }
        Ok(config)
    }

    /// Number of w vectors a W+ code holds: one for the input, one per layer.
    pub fn num_ws(&self) -> usize {
        self.layers.len() + 1
    }

    /// Weights drawn at random in the published initialisation, with designed low-pass filters
    /// (for benchmarks and tests: the cost of a frame does not depend on the values).
    pub fn random_weights(&self, seed: i64) -> TensorSet {
        tch::manual_seed(seed);
        let opts = (Kind::Float, Device::Cpu);
        let lr = self.design.mapping_lr;
        let mut t = TensorSet::default();
        let mut c_in = self.z_dim;
        for i in 0..self.mapping_layers {
            t.insert(
                format!("mapping.fc{i}.weight"),
                Tensor::randn([self.w_dim, c_in], opts) / lr,
            );
            t.insert(
                format!("mapping.fc{i}.bias"),
                Tensor::zeros([self.w_dim], opts),
            );
            c_in = self.w_dim;
        }
        t.insert("mapping.w_avg", Tensor::zeros([self.w_dim], opts));
        let c = self.input.channels;
        let freqs = Tensor::randn([c, 2], opts);
        let radii = freqs.square().sum_dim_intlist(1, true, Kind::Float).sqrt();
        let freqs =
            &freqs / (&radii * radii.square().exp().pow_tensor_scalar(0.25)) * self.input.bandwidth;
        t.insert("synthesis.input.freqs", freqs);
        t.insert("synthesis.input.phases", Tensor::rand([c], opts) - 0.5);
        t.insert("synthesis.input.weight", Tensor::randn([c, c], opts));
        t.insert(
            "synthesis.input.affine.weight",
            Tensor::zeros([4, self.w_dim], opts),
        );
        t.insert(
            "synthesis.input.affine.bias",
            Tensor::from_slice(&[1.0f32, 0.0, 0.0, 0.0]),
        );
        t.insert("synthesis.input.transform", Tensor::eye(3, opts));
        for l in &self.layers {
            let p = format!("synthesis.{}", l.name);
            let k = if l.to_rgb { 1 } else { self.conv_kernel };
            t.insert(
                format!("{p}.weight"),
                Tensor::randn([l.out_channels, l.in_channels, k, k], opts),
            );
            t.insert(format!("{p}.bias"), Tensor::zeros([l.out_channels], opts));
            t.insert(
                format!("{p}.affine.weight"),
                Tensor::randn([l.in_channels, self.w_dim], opts),
            );
            t.insert(
                format!("{p}.affine.bias"),
                Tensor::ones([l.in_channels], opts),
            );
            t.insert(format!("{p}.magnitude_ema"), Tensor::ones([], opts));
            if l.up_taps > 1 {
                let f = lowpass(
                    l.up_taps,
                    l.in_cutoff,
                    l.in_half_width * 2.0,
                    l.tmp_sampling_rate,
                );
                t.insert(format!("{p}.up_filter"), f);
            }
            if l.down_taps > 1 {
                let f = lowpass(
                    l.down_taps,
                    l.out_cutoff,
                    l.out_half_width * 2.0,
                    l.tmp_sampling_rate,
                );
                // The radial filter is a 2-D filter of the same size; for timing its values do
                // not matter, so the separable one's outer product stands in for it.
                let f = if l.down_radial { f.outer(&f) } else { f };
                t.insert(format!("{p}.down_filter"), f);
            }
        }
        t
    }
}

/// A Kaiser-windowed sinc low-pass filter normalised to unit DC gain (`taps` taps, `cutoff` and
/// transition `width` in the units of the sampling rate `fs`), the window chosen for the
/// attenuation the width allows (Kaiser's formulas).
pub fn lowpass(taps: i64, cutoff: f64, width: f64, fs: f64) -> Tensor {
    let n = taps as usize;
    let attenuation = 2.285 * (n as f64 - 1.0) * PI * (width / (fs / 2.0)) + 7.95;
    let beta = if attenuation > 50.0 {
        0.1102 * (attenuation - 8.7)
    } else if attenuation > 21.0 {
        0.5842 * (attenuation - 21.0).powf(0.4) + 0.07886 * (attenuation - 21.0)
    } else {
        0.0
    };
    // Modified Bessel function of the first kind, order 0, by its power series.
    let i0 = |x: f64| {
        let (mut sum, mut term) = (1.0, 1.0);
        for k in 1..50 {
            term *= (x / 2.0) / k as f64;
            sum += term * term;
        }
        sum
    };
    let centre = (n as f64 - 1.0) / 2.0;
    let mut h: Vec<f64> = (0..n)
        .map(|i| {
            let x = (i as f64 - centre) * 2.0 * cutoff / fs;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (PI * x).sin() / (PI * x)
            };
            let r = if n > 1 {
                (i as f64 - centre) / centre
            } else {
                0.0
            };
            sinc * i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0(beta)
        })
        .collect();
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    Tensor::from_slice(&h).to_kind(Kind::Float)
}

/// Up-sample by inserting zeros, pad (negative crops), convolve with `f` (1-D: separable, x
/// then y; 2-D as given), down-sample by dropping samples. `padding` is [x0, x1, y0, y1]. The
/// filter is scaled by `gain` over its dimensions and applied as a correlation after flipping,
/// unless `flip_filter` (so a filter is applied as a true convolution by default).
pub fn upfirdn2d(
    x: &Tensor,
    f: Option<&Tensor>,
    up: i64,
    down: i64,
    padding: [i64; 4],
    gain: f64,
    flip_filter: bool,
) -> Tensor {
    let channels = x.size()[1];
    let f = f.map(|f| depthwise_filter(f, gain, flip_filter, channels));
    upfirdn2d_prepared(x, f.as_ref(), up, down, padding)
}

/// A filter scaled, flipped and repeated as a depthwise convolution wants it: one per channel.
/// A 1-D filter becomes its x pass [C, 1, 1, k]; the y pass is its transpose.
fn depthwise_filter(f: &Tensor, gain: f64, flip_filter: bool, channels: i64) -> Tensor {
    let f = f.to_kind(Kind::Float) * gain.powf(f.dim() as f64 / 2.0);
    let dims: Vec<i64> = (0..f.dim() as i64).collect();
    let f = if flip_filter { f } else { f.flip(&dims) };
    let f = if f.dim() == 1 { f.unsqueeze(0) } else { f };
    let (h, w) = (f.size()[0], f.size()[1]);
    f.view([1, 1, h, w]).repeat([channels, 1, 1, 1])
}

/// The taps of a filter prepared by [`depthwise_filter`] as the fused kernel takes them: fp32,
/// [k] for a separable filter, [k, k] for a 2-D one (the correlation the convolutions apply).
fn kernel_taps(depthwise: &Tensor) -> Tensor {
    let f = depthwise.get(0).get(0).to_kind(Kind::Float);
    if is_separable(depthwise) {
        f.reshape([-1])
    } else {
        f.contiguous()
    }
}

/// A designed filter (1-D or 2-D, as stored) as the fused kernel takes it, with its gain.
pub(super) fn kernel_taps_of(f: &Tensor, gain: f64) -> Tensor {
    kernel_taps(&depthwise_filter(f, gain, false, 1))
}

/// Which filter a prepared depthwise kernel is: separable (x pass, then its transpose) or 2-D.
fn is_separable(f: &Tensor) -> bool {
    f.size()[2] == 1
}

/// [`upfirdn2d`] with a filter from [`depthwise_filter`]. Zero insertion and the filter run as
/// one transposed convolution (no multiplications by the inserted zeros), down-sampling as a
/// strided convolution (no outputs computed to be dropped), and a separable filter one axis at
/// a time: the same sums as the definition, several times fewer operations.
fn upfirdn2d_prepared(
    x: &Tensor,
    f: Option<&Tensor>,
    up: i64,
    down: i64,
    padding: [i64; 4],
) -> Tensor {
    let [x0, x1, y0, y1] = padding;
    let Some(f) = f else {
        // No filter: only the layer to RGB, which neither up- nor down-samples.
        let x = if up > 1 {
            let s = x.size();
            x.reshape([s[0], s[1], s[2], 1, s[3], 1])
                .constant_pad_nd([0, up - 1, 0, 0, 0, up - 1])
                .reshape([s[0], s[1], s[2] * up, s[3] * up])
        } else {
            x.shallow_clone()
        };
        let x = x.constant_pad_nd([x0, x1, y0, y1]);
        return x.slice(2, 0, None, down).slice(3, 0, None, down);
    };
    let f = f.to_kind(x.kind());
    let channels = x.size()[1];
    let conv = |x: &Tensor, w: &Tensor, stride: [i64; 2]| {
        x.conv2d(w, None::<&Tensor>, stride, [0, 0], [1, 1], channels)
    };
    if up == 1 {
        let x = pad_or_crop(x, [x0, x1, y0, y1]);
        return if is_separable(&f) {
            let x = conv(&x, &f, [1, down]);
            conv(&x, &f.transpose(2, 3), [down, 1])
        } else {
            conv(&x, &f, [down, down])
        };
    }
    let x = if is_separable(&f) {
        let x = upsample_axis(x, &f, up, 3, (x0, x1));
        upsample_axis(&x, &f.transpose(2, 3), up, 2, (y0, y1))
    } else {
        let full = x.conv_transpose2d(
            &f.flip([2, 3]),
            None::<&Tensor>,
            [up, up],
            [0, 0],
            [0, 0],
            channels,
            [1, 1],
        );
        let (kh, kw) = (f.size()[2], f.size()[3]);
        let (h, w) = (x.size()[2], x.size()[3]);
        let [left, right] = crop_after_transposed(w, kw, up, (x0, x1));
        let [top, bottom] = crop_after_transposed(h, kh, up, (y0, y1));
        pad_or_crop(&full, [left, right, top, bottom])
    };
    if down > 1 {
        x.slice(2, 0, None, down).slice(3, 0, None, down)
    } else {
        x
    }
}

/// The padding (negative: crop) that turns a transposed convolution's full output (`n` samples
/// up-sampled by `up`, filter of `k` taps) into upfirdn's output for padding `(p0, p1)`:
/// output sample i is full sample i + k − 1 − p0, and there are n·up + p0 + p1 − k + 1 of them.
fn crop_after_transposed(n: i64, k: i64, up: i64, (p0, p1): (i64, i64)) -> [i64; 2] {
    let full = (n - 1) * up + k;
    let wanted = n * up + p0 + p1 - k + 1;
    let start = k - 1 - p0;
    [-start, wanted + start - full]
}

/// `x` padded or cropped by `pads` ([x0, x1, y0, y1] as `constant_pad_nd` takes them): a view
/// where it only crops, which spares a copy of the largest maps.
fn pad_or_crop(x: &Tensor, pads: [i64; 4]) -> Tensor {
    if pads.iter().any(|&p| p > 0) {
        return x.constant_pad_nd(pads);
    }
    let [x0, x1, y0, y1] = pads.map(|p| -p);
    let (h, w) = (x.size()[2], x.size()[3]);
    x.narrow(2, y0, h - y0 - y1).narrow(3, x0, w - x0 - x1)
}

/// Zero insertion and a 1-D filter along `axis` (3: x, 2: y), as one transposed convolution.
fn upsample_axis(x: &Tensor, f: &Tensor, up: i64, axis: usize, pads: (i64, i64)) -> Tensor {
    let channels = x.size()[1];
    let (stride, flip_dim) = if axis == 3 {
        ([1, up], 3)
    } else {
        ([up, 1], 2)
    };
    let full = x.conv_transpose2d(
        &f.flip([flip_dim]),
        None::<&Tensor>,
        stride,
        [0, 0],
        [0, 0],
        channels,
        [1, 1],
    );
    let k = f.size()[flip_dim as usize];
    let [a, b] = crop_after_transposed(x.size()[axis], k, up, pads);
    if axis == 3 {
        pad_or_crop(&full, [a, b, 0, 0])
    } else {
        pad_or_crop(&full, [0, 0, a, b])
    }
}

/// How a filtered leaky ReLU resamples and activates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    pub up: i64,
    pub down: i64,
    /// Padding before the up-sampling filter, [x0, x1, y0, y1]; negative crops.
    pub padding: [i64; 4],
    pub gain: f64,
    /// 1 for a linear layer.
    pub slope: f64,
    pub clamp: Option<f64>,
}

/// Bias, up-sampling filter, leaky ReLU (times the gain, clamped), down-sampling filter.
pub fn filtered_lrelu(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    bias: &Tensor,
    a: &Activation,
) -> Tensor {
    let c = x.size()[1];
    let fu = fu.map(|f| depthwise_filter(f, (a.up * a.up) as f64, false, c));
    let fd = fd.map(|f| depthwise_filter(f, 1.0, false, c));
    filtered_lrelu_prepared(x, fu.as_ref(), fd.as_ref(), bias, a)
}

fn filtered_lrelu_prepared(
    x: &Tensor,
    fu: Option<&Tensor>,
    fd: Option<&Tensor>,
    bias: &Tensor,
    a: &Activation,
) -> Tensor {
    let Activation {
        up,
        down,
        padding,
        gain,
        slope,
        clamp,
    } = *a;
    let x = x + bias.view([1, -1, 1, 1]);
    let up_sampled = upfirdn2d_prepared(&x, fu, up, 1, padding);
    // The up-sampled map is the largest tensor of the layer: the activation makes one copy of
    // it (the leaky ReLU with its slope, written as its gradient with respect to the input
    // applied to the input itself: x where x > 0, else slope·x) and scales and clamps that in
    // place.
    let mut x = if slope == 1.0 {
        up_sampled.copy()
    } else {
        up_sampled.leaky_relu_backward(&up_sampled, slope, false)
    };
    if gain != 1.0 {
        let _ = x.g_mul_scalar_(gain);
    }
    if let Some(c) = clamp {
        let _ = x.clamp_(-c, c);
    }
    upfirdn2d_prepared(&x, fd, 1, down, [0; 4])
}

/// z → w: normalise z's second moment, then fully connected layers with leaky ReLU.
struct MappingNetwork {
    layers: Vec<EqualLinear>,
    w_avg: Tensor,
}

impl MappingNetwork {
    fn new(t: &TensorSet, c: &GeneratorConfig, device: Device) -> Result<Self, TensorSetError> {
        let layers = (0..c.mapping_layers)
            .map(|i| {
                let c_in = if i == 0 { c.z_dim } else { c.w_dim };
                EqualLinear::new(
                    t,
                    &format!("mapping.fc{i}"),
                    (c_in, c.w_dim),
                    c.design.mapping_lr,
                    device,
                    Kind::Float,
                )
            })
            .collect::<Result<_, _>>()?;
        let w_avg = t.take("mapping.w_avg", &[c.w_dim], device, Kind::Float)?;
        Ok(Self { layers, w_avg })
    }

    fn forward(&self, z: &Tensor) -> Tensor {
        let mut x = z * (z.square().mean_dim(1, true, Kind::Float) + 1e-8).rsqrt();
        for layer in &self.layers {
            let y = layer.forward(&x);
            x = y.maximum(&(&y * 0.2)) * SQRT_2;
        }
        x
    }
}

/// Fourier features, rotated and translated by an affine map of the first w.
struct SynthesisInput {
    affine: EqualLinear,
    /// [C, C], already times 1/√C.
    weight: Tensor,
    /// [3, 3]: the user transform, applied after the learnt one.
    transform: Tensor,
    freqs: Tensor,
    phases: Tensor,
    plan: InputPlan,
}

impl SynthesisInput {
    fn new(t: &TensorSet, c: &GeneratorConfig, device: Device) -> Result<Self, TensorSetError> {
        let ch = c.input.channels;
        let p = "synthesis.input";
        let weight = t.take(&format!("{p}.weight"), &[ch, ch], device, Kind::Float)?;
        // Some encoders save a batch of identical transforms; the first stands for all.
        let transform = t.get(&format!("{p}.transform"))?;
        let transform = match transform.size().as_slice() {
            [3, 3] => transform.shallow_clone(),
            [_, 3, 3] => transform.get(0),
            other => {
                return Err(TensorSetError::Shape {
                    name: format!("{p}.transform"),
                    actual: other.to_vec(),
                    expected: vec![3, 3],
                })
            }
        };
        Ok(Self {
            affine: EqualLinear::new(
                t,
                &format!("{p}.affine"),
                (c.w_dim, 4),
                1.0,
                device,
                Kind::Float,
            )?,
            weight: weight / (ch as f64).sqrt(),
            transform: transform.to_device(device).to_kind(Kind::Float),
            freqs: t.take(&format!("{p}.freqs"), &[ch, 2], device, Kind::Float)?,
            phases: t.take(&format!("{p}.phases"), &[ch], device, Kind::Float)?,
            plan: c.input.clone(),
        })
    }

    /// The raw affine output (r_c, r_s, t_x, t_y) before normalisation.
    fn affine(&self, w: &Tensor) -> Tensor {
        self.affine.forward(w)
    }

    /// The affine output of w [N, 4] → features [N, C, size, size]; `transform` [3, 3] or
    /// [N, 3, 3] replaces the stored one.
    fn features(&self, affine: &Tensor, transform: Option<&Tensor>) -> Tensor {
        let n = affine.size()[0];
        let dev = affine.device();
        let opts = (Kind::Float, dev);
        // Rotation normalised to unit length.
        let t = affine
            / affine
                .narrow(1, 0, 2)
                .square()
                .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
                .sqrt();
        let (rc, rs) = (t.select(1, 0), t.select(1, 1));
        let (tx, ty) = (t.select(1, 2), t.select(1, 3));
        let zero = Tensor::zeros([n], opts);
        let one = Tensor::ones([n], opts);
        // Rotation [[c, −s], [s, c]] and translation by −t, as 3×3 homogeneous matrices.
        let rotation = Tensor::stack(
            &[&rc, &(-&rs), &zero, &rs, &rc, &zero, &zero, &zero, &one],
            1,
        )
        .view([n, 3, 3]);
        let translation = Tensor::stack(
            &[
                &one,
                &zero,
                &(-&tx),
                &zero,
                &one,
                &(-&ty),
                &zero,
                &zero,
                &one,
            ],
            1,
        )
        .view([n, 3, 3]);
        let user = transform.map_or_else(
            || self.transform.shallow_clone(),
            |t| t.to_device(dev).to_kind(Kind::Float),
        );
        let m = rotation.matmul(&translation).matmul(&user);
        let freqs = self.freqs.unsqueeze(0); // [1, C, 2]
        let phases = self.phases.unsqueeze(0)
            + freqs
                .matmul(&m.narrow(1, 0, 2).narrow(2, 2, 1))
                .squeeze_dim(2);
        let freqs = freqs.matmul(&m.narrow(1, 0, 2).narrow(2, 0, 2)); // [N, C, 2]
        let plan = &self.plan;
        let radius = freqs
            .square()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Float)
            .sqrt();
        let amplitudes = ((radius - plan.bandwidth) / (plan.sampling_rate / 2.0 - plan.bandwidth))
            .neg()
            .g_add_scalar(1.0)
            .clamp(0.0, 1.0);
        // Sample positions of pixel centres, in the input's units.
        let s = plan.size;
        let axis = (Tensor::arange(s, opts) + 0.5 - s as f64 / 2.0) / plan.sampling_rate;
        let grid = Tensor::stack(
            &[
                axis.view([1, s]).expand([s, s], false),
                axis.view([s, 1]).expand([s, s], false),
            ],
            2,
        ); // [H, W, 2] as (x, y)
        let x = grid
            .view([1, s, s, 1, 2])
            .matmul(&freqs.transpose(1, 2).view([n, 1, 1, 2, -1]));
        let x = x.squeeze_dim(3) + phases.view([n, 1, 1, -1]);
        let x = (x * (2.0 * PI)).sin() * amplitudes.view([n, 1, 1, -1]);
        x.matmul(&self.weight.tr()).permute([0, 3, 1, 2])
    }
}

/// A modulated convolution and its filtered leaky ReLU.
struct SynthesisLayer {
    plan: LayerPlan,
    affine: EqualLinear,
    /// [O, I, k, k]; normalised per output channel where the layer demodulates.
    weight: Tensor,
    /// [O, I]: Σ over the kernel of weight², for the demodulation factors.
    weight_sq: Option<Tensor>,
    bias: Tensor,
    /// 1/√(the input's mean square, tracked in training).
    input_gain: f64,
    /// Scale of the styles (1/√fan-in for the layer to RGB, which does not demodulate).
    style_gain: f64,
    up_filter: Option<Tensor>,
    down_filter: Option<Tensor>,
    /// The same filters and bias as the fused kernel takes them (fp32; a single 1 for no
    /// filter).
    kernel_bias: Tensor,
    kernel_taps: KernelTaps,
    activation: Activation,
}

impl SynthesisLayer {
    fn new(
        t: &TensorSet,
        plan: &LayerPlan,
        c: &GeneratorConfig,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let p = format!("synthesis.{}", plan.name);
        let k = if plan.to_rgb { 1 } else { c.conv_kernel };
        let (ci, co) = (plan.in_channels, plan.out_channels);
        let weight = t.take(&format!("{p}.weight"), &[co, ci, k, k], device, Kind::Float)?;
        let ema = t.take(
            &format!("{p}.magnitude_ema"),
            &[],
            Device::Cpu,
            Kind::Double,
        )?;
        let filter = |which: &str, taps: i64, radial: bool, gain: f64| {
            if taps <= 1 {
                return Ok(None);
            }
            let expected: Vec<i64> = if radial { vec![taps, taps] } else { vec![taps] };
            let f = t.take(&format!("{p}.{which}"), &expected, Device::Cpu, Kind::Float)?;
            Ok::<_, TensorSetError>(Some(depthwise_filter(&f, gain, false, co)))
        };
        let up_gain = (plan.up * plan.up) as f64;
        let up_filter = filter("up_filter", plan.up_taps, false, up_gain)?;
        let down_filter = filter("down_filter", plan.down_taps, plan.down_radial, 1.0)?;
        let taps = |f: &Option<Tensor>| {
            f.as_ref().map_or_else(
                || Tensor::ones([1], (Kind::Float, Device::Cpu)),
                kernel_taps,
            )
        };
        let kernel_taps = KernelTaps::new(&taps(&up_filter), &taps(&down_filter), device);
        let (weight, weight_sq) = if plan.to_rgb {
            (weight, None)
        } else {
            let w = &weight
                * weight
                    .square()
                    .mean_dim([1, 2, 3].as_slice(), true, Kind::Float)
                    .rsqrt();
            let sq = w
                .square()
                .sum_dim_intlist([2, 3].as_slice(), false, Kind::Float);
            (w, Some(sq))
        };
        Ok(Self {
            affine: EqualLinear::new(
                t,
                &format!("{p}.affine"),
                (c.w_dim, ci),
                1.0,
                device,
                Kind::Float,
            )?,
            weight: weight.to_kind(kind),
            weight_sq,
            bias: t.take(&format!("{p}.bias"), &[co], device, kind)?,
            kernel_bias: t.take(&format!("{p}.bias"), &[co], device, Kind::Float)?,
            input_gain: 1.0 / ema.double_value(&[]).sqrt(),
            style_gain: if plan.to_rgb {
                1.0 / ((ci * k * k) as f64).sqrt()
            } else {
                1.0
            },
            up_filter: up_filter.map(|f| f.to_device(device).to_kind(kind)),
            down_filter: down_filter.map(|f| f.to_device(device).to_kind(kind)),
            kernel_taps,
            activation: Activation {
                up: plan.up,
                down: plan.down,
                padding: plan.padding,
                // The layer to RGB is linear.
                gain: if plan.to_rgb { 1.0 } else { SQRT_2 },
                slope: if plan.to_rgb { 1.0 } else { 0.2 },
                clamp: c.design.conv_clamp,
            },
            plan: plan.clone(),
        })
    }

    fn styles(&self, w: &Tensor) -> Tensor {
        self.affine.forward(w)
    }

    /// Modulation on the activations, by `styles` (this layer's [`SynthesisLayer::styles`]):
    /// scale the input channels by the style, convolve with the shared weight, and return the
    /// result with the demodulation factors [N, C] (fp32) its output channels are to be scaled
    /// by — the same arithmetic as a per-sample weight, as one ordinary batched convolution.
    /// The scaling is left to the activation, which the fused kernel does in the same pass.
    fn modulated_conv(&self, x: &Tensor, styles: &Tensor) -> (Tensor, Option<Tensor>) {
        let kind = x.kind();
        let mut s = styles * self.style_gain;
        if self.weight_sq.is_some() {
            // Normalised over the whole batch, as the reference does (demodulation cancels the
            // scale; it keeps low-precision values in range).
            s = &s * s.square().mean(Kind::Float).rsqrt();
        }
        let scale = (&s * self.input_gain)
            .to_kind(kind)
            .unsqueeze(2)
            .unsqueeze(3);
        let pad = self.weight.size()[2] - 1;
        let y = (x * scale).conv2d(&self.weight, None::<&Tensor>, [1, 1], [pad, pad], [1, 1], 1);
        let d = self
            .weight_sq
            .as_ref()
            .map(|sq| (s.square().matmul(&sq.tr()) + 1e-8).rsqrt());
        (y, d)
    }

    /// Demodulation, bias and filtered leaky ReLU (linear for the layer to RGB), by operators,
    /// or by `kernel` where given (not for the layer to RGB, which has no filters).
    fn activation(
        &self,
        mut y: Tensor,
        demodulation: Option<&Tensor>,
        kernel: Option<&KernelRoute>,
    ) -> Tensor {
        if let Some(run) = kernel.filter(|_| !self.plan.to_rgb) {
            let input = FilteredLreluInput {
                x: &y,
                dgain: demodulation,
                bias: &self.kernel_bias,
                taps: &self.kernel_taps,
                activation: &self.activation,
            };
            if let Some(out) = run(&input) {
                return out;
            }
        }
        if let Some(d) = demodulation {
            y *= d.to_kind(y.kind()).unsqueeze(2).unsqueeze(3);
        }
        filtered_lrelu_prepared(
            &y,
            self.up_filter.as_ref(),
            self.down_filter.as_ref(),
            &self.bias,
            &self.activation,
        )
    }
}

/// Where [`Generator::synthesis_profiled`] stops: after the Fourier-feature input, and after a
/// layer's modulated convolution and its filtered leaky ReLU (demodulation, bias, filters and
/// activation).
#[derive(Debug, Clone, Copy)]
pub enum SynthesisStep<'a> {
    Input,
    Conv(&'a LayerPlan),
    Filter(&'a LayerPlan),
}

impl SynthesisStep<'_> {
    /// The kind of step, as the benchmark's report names it.
    pub fn kind(self) -> &'static str {
        match self {
            SynthesisStep::Input => "input",
            SynthesisStep::Conv(_) => "conv",
            SynthesisStep::Filter(_) => "filter",
        }
    }
}

/// Runs one layer's filtered leaky ReLU as the fused kernel; `None` sends the layer to the
/// operators.
type KernelRoute<'a> = dyn Fn(&FilteredLreluInput) -> Option<Tensor> + 'a;

/// A StyleGAN3 generator ready to run on one device in one precision.
pub struct Generator {
    config: GeneratorConfig,
    mapping: MappingNetwork,
    input: SynthesisInput,
    layers: Vec<SynthesisLayer>,
    device: Device,
    kind: Kind,
    /// The fused filtered leaky ReLU, where it loaded (CUDA, fp32 or fp16, NVRTC found).
    kernels: Option<FilteredLreluKernels>,
    /// Set when a launch failed: the operators take over for the generator's life.
    kernels_failed: AtomicBool,
}

impl Generator {
    /// Builds the generator from its tensors (names as in NVIDIA's `G_ema`), with the fused
    /// kernel on a GPU.
    pub fn new(
        t: &TensorSet,
        config: &GeneratorConfig,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        Self::with_kernels(t, config, device, kind, true)
    }

    /// [`Generator::new`], the fused kernel asked for or not (a benchmark compares the two).
    pub fn with_kernels(
        t: &TensorSet,
        config: &GeneratorConfig,
        device: Device,
        kind: Kind,
        fused: bool,
    ) -> Result<Self, TensorSetError> {
        let kernels = super::cuda_kernels::load_for_generator(
            device,
            kind,
            fused,
            FilteredLreluKernels::new,
            "StyleGAN3",
        );
        let layers = config
            .layers
            .iter()
            .map(|plan| SynthesisLayer::new(t, plan, config, device, kind))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            mapping: MappingNetwork::new(t, config, device)?,
            input: SynthesisInput::new(t, config, device)?,
            layers,
            config: config.clone(),
            device,
            kind,
            kernels,
            kernels_failed: AtomicBool::new(false),
        })
    }

    /// Whether synthesis runs the fused filtered leaky ReLU.
    pub fn uses_fused_kernels(&self) -> bool {
        self.kernels.is_some() && !self.kernels_failed.load(Ordering::Relaxed)
    }

    /// Which cores run the fused kernel's fp16 radial layers; `None` where the operators run.
    pub fn filter_cores(&self) -> Option<FilterCores> {
        let kernels = self
            .kernels
            .as_ref()
            .filter(|_| self.uses_fused_kernels())?;
        Some(match self.kind {
            Kind::Half => kernels.filter_cores(),
            _ => FilterCores::CudaCores,
        })
    }

    /// Chooses which cores run the fused kernel's fp16 radial layers (a benchmark
    /// compares them); false where the kernel or its tensor-core builds did not load.
    pub fn set_filter_cores(&self, cores: FilterCores) -> bool {
        self.kernels
            .as_ref()
            .is_some_and(|kernels| kernels.set_filter_cores(cores))
    }

    /// The fused kernel as a layer's route, while it works.
    fn kernel_route(&self) -> Option<impl Fn(&FilteredLreluInput) -> Option<Tensor> + '_> {
        let kernels = self
            .kernels
            .as_ref()
            .filter(|_| self.uses_fused_kernels())?;
        Some(move |input: &FilteredLreluInput| match kernels.run(input) {
            Ok(out) => Some(out),
            Err(e) => {
                self.kernel_failed(&e);
                None
            }
        })
    }

    fn kernel_failed(&self, e: &KernelError) {
        if !self.kernels_failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %crate::chain::Chain(e),
                "the fused filtered leaky ReLU failed; the operators run instead"
            );
        }
    }

    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The average w the mapping network tracked in training.
    pub fn w_avg(&self) -> &Tensor {
        &self.mapping.w_avg
    }

    /// z [N, z_dim] → w [N, w_dim].
    pub fn mapping(&self, z: &Tensor) -> Tensor {
        self.mapping
            .forward(&z.to_device(self.device).to_kind(Kind::Float))
    }

    /// z → W+ [N, num_ws, w_dim], the first `cutoff` rows (all when `None`) truncated towards
    /// the average w by ψ.
    pub fn ws(&self, z: &Tensor, psi: f64, cutoff: Option<usize>) -> Tensor {
        let n = self.config.num_ws() as i64;
        let w = self.mapping(z).unsqueeze(1).repeat([1, n, 1]);
        if psi == 1.0 {
            return w;
        }
        let k = cutoff.map_or(n, |c| (c as i64).min(n));
        let head = self.mapping.w_avg.lerp(&w.narrow(1, 0, k), psi);
        Tensor::cat(&[head, w.narrow(1, k, n - k)], 1)
    }

    /// W+ [N, num_ws, w_dim] → images [N, 3, size, size], raw (not clamped).
    pub fn synthesis(&self, w_plus: &Tensor) -> Tensor {
        self.synthesis_traced(w_plus, None, |_, _| {})
    }

    /// [`Generator::synthesis`], calling `step` after the input and after each layer's
    /// modulated convolution and filtered leaky ReLU (a benchmark synchronises there to see
    /// where the time goes).
    pub fn synthesis_profiled(
        &self,
        w_plus: &Tensor,
        mut step: impl FnMut(SynthesisStep),
    ) -> Tensor {
        let route = self.kernel_route();
        let kernel = route.as_ref().map(|r| r as &KernelRoute);
        self.run_synthesis(w_plus, None, kernel, &mut |_, _| {}, &mut step)
    }

    /// [`Generator::synthesis`] with the input's transform replaced ([3, 3] or [N, 3, 3]): the
    /// image of the same latent seen rotated, translated or scaled.
    pub fn synthesis_transformed(&self, w_plus: &Tensor, transform: &Tensor) -> Tensor {
        self.synthesis_traced(w_plus, Some(transform), |_, _| {})
    }

    /// Synthesis calling `f` with each intermediate: `input.affine`, `input`, and per layer
    /// `styles.<name>` and `<name>` (the last layer's before the output scale).
    pub fn synthesis_traced(
        &self,
        w_plus: &Tensor,
        transform: Option<&Tensor>,
        mut f: impl FnMut(&str, &Tensor),
    ) -> Tensor {
        let route = self.kernel_route();
        let kernel = route.as_ref().map(|r| r as &KernelRoute);
        self.run_synthesis(
            w_plus,
            transform,
            kernel,
            &mut f,
            &mut |_: SynthesisStep| {},
        )
    }

    /// Synthesis with each layer's filtered leaky ReLU run by `kernel` (the operators where
    /// `None`), calling `trace` with the intermediates and `step` after each kind of step.
    fn run_synthesis(
        &self,
        w_plus: &Tensor,
        transform: Option<&Tensor>,
        kernel: Option<&KernelRoute>,
        trace: &mut dyn FnMut(&str, &Tensor),
        step: &mut dyn FnMut(SynthesisStep),
    ) -> Tensor {
        let ws = w_plus.to_device(self.device).to_kind(Kind::Float);
        let affine = self.input.affine(&ws.select(1, 0));
        trace("input.affine", &affine);
        let mut x = self.input.features(&affine, transform).to_kind(self.kind);
        trace("input", &x);
        step(SynthesisStep::Input);
        // Each layer's styles are computed once, for the trace and the layer alike.
        for (i, layer) in self.layers.iter().enumerate() {
            let styles = layer.styles(&ws.select(1, i as i64 + 1));
            trace(&format!("styles.{}", layer.plan.name), &styles);
            let (y, demodulation) = layer.modulated_conv(&x, &styles);
            step(SynthesisStep::Conv(&layer.plan));
            x = layer.activation(y, demodulation.as_ref(), kernel);
            step(SynthesisStep::Filter(&layer.plan));
            trace(&layer.plan.name, &x);
        }
        (x * self.config.design.output_scale).to_kind(Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::filtered_lrelu_kernel::emulator::Emulator;

    /// The generator's fused route (demodulation left to the kernel, the kernel's filters and
    /// bias as the layers prepare them) against its operator route, whole images, for both
    /// designs with their designed filters: the kernel built for the CPU stands in for the GPU.
    #[test]
    fn synthesis_through_the_kernel_matches_the_operators() {
        let _guard = tch::no_grad_guard();
        let emulator = Emulator::get();
        let kernel = |input: &FilteredLreluInput| Some(emulator.run(input).expect("kernel runs"));
        for (variant, base, max) in [(Variant::R, 2048.0, 128.0), (Variant::T, 1024.0, 64.0)] {
            let config =
                GeneratorConfig::with_widths(variant, 64, (32, 32), base, max).expect("a design");
            let g = Generator::new(&config.random_weights(9), &config, Device::Cpu, Kind::Float)
                .expect("a generator");
            assert!(!g.uses_fused_kernels(), "no kernel loads on the CPU");
            let z = Tensor::randn([2, config.z_dim], (Kind::Float, Device::Cpu));
            let w_plus = g.ws(&z, 1.0, None);
            let operators = g.synthesis(&w_plus);
            let mut names = Vec::new();
            let fused = g.run_synthesis(
                &w_plus,
                None,
                Some(&kernel),
                &mut |name, _| names.push(name.to_string()),
                &mut |_| {},
            );
            assert!(names.len() > config.layers.len(), "{names:?}");
            let scale = operators.abs().max().double_value(&[]);
            let diff = (&fused - &operators).abs().max().double_value(&[]);
            assert!(
                scale > 0.0 && diff < 1e-4 * scale.max(1.0),
                "{variant:?}: max |fused − operators| = {diff} at scale {scale}"
            );
        }
    }

    /// fp16 synthesis through the kernel, radial layers on the CUDA cores and on the tensor
    /// cores (whose operands round the input, the samples up-sampled along x and the activated
    /// samples to fp16), stays about as close to the fp32 image as fp16 synthesis through the
    /// operators does.
    #[test]
    fn fp16_synthesis_through_the_kernel_on_either_kind_of_core_keeps_fp16s_accuracy() {
        let _guard = tch::no_grad_guard();
        tch::manual_seed(11);
        let emulator = Emulator::get();
        let config = GeneratorConfig::with_widths(Variant::R, 64, (32, 32), 2048.0, 128.0)
            .expect("a design");
        let weights = config.random_weights(9);
        let fp32 = Generator::new(&weights, &config, Device::Cpu, Kind::Float).expect("fp32");
        let fp16 = Generator::new(&weights, &config, Device::Cpu, Kind::Half).expect("fp16");
        let z = Tensor::randn([2, config.z_dim], (Kind::Float, Device::Cpu));
        let w_plus = fp32.ws(&z, 1.0, None);
        let reference = fp32.synthesis(&w_plus);
        let w_half = w_plus.to_kind(Kind::Half);
        // (max, mean) error over the reference's (max, mean) magnitude.
        let error = |image: &Tensor| {
            let d = (image - &reference).abs();
            let r = reference.abs();
            (
                d.max().double_value(&[]) / r.max().double_value(&[]),
                d.mean(Kind::Float).double_value(&[]) / r.mean(Kind::Float).double_value(&[]),
            )
        };
        let operators = error(&fp16.synthesis(&w_half));
        assert!(operators.0 < 0.02, "fp16 operators: {operators:?}");
        for cores in [FilterCores::CudaCores, FilterCores::TensorCores] {
            let kernel = |input: &FilteredLreluInput| {
                Some(emulator.run_with(input, cores).expect("kernel runs"))
            };
            let image =
                fp16.run_synthesis(&w_half, None, Some(&kernel), &mut |_, _| {}, &mut |_| {});
            let fused = error(&image);
            assert!(
                fused.0 <= 1.5 * operators.0 && fused.1 <= 1.5 * operators.1,
                "{cores:?}: {fused:?} against the fp16 operators' {operators:?}"
            );
        }
    }
}
