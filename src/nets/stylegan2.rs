//! The StyleGAN2 generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of
//! StyleGAN", <https://arxiv.org/abs/1912.04958>), written from the paper for the tensor names
//! of the widely published PyTorch checkpoints (`g_ema.*`): a mapping network (pixel norm, then
//! `n_mlp` equalised-lr linear layers with a leaky ReLU), a learnt 4×4 constant, and per
//! resolution two modulated 3×3 convolutions (the first one up-sampling) with per-pixel noise,
//! plus a modulated 1×1 "to RGB" whose output is added to the up-sampled skip image.
//!
//! The architecture is read from the tensor shapes: resolution, style width, mapping depth and
//! every channel width. Only the mapping's learning-rate multiplier is not stored in the weights;
//! it defaults to the published 0.01.
//!
//! Modulation is applied to the activations instead of the weights (scale the input channels
//! by the style, convolve with the shared weight, scale the output channels by the
//! demodulation factor). That is the same arithmetic as folding the style into a per-sample
//! weight, but it batches into one ordinary convolution, which is what makes large batches and
//! fp16 fast on a GPU.

use super::cuda_kernels::{EpilogueInput, EpilogueKernels};
use super::layers::EqualLinear;
use super::tensor_set::{TensorSet, TensorSetError};
use tch::{Device, Kind, Tensor};

/// The published mapping networks' learning-rate multiplier (not stored in the weights).
pub const DEFAULT_LR_MLP: f64 = 0.01;

/// Leaky ReLU slope and gain of the generator's activations.
const LRELU_SLOPE: f64 = 0.2;
const LRELU_GAIN: f64 = std::f64::consts::SQRT_2;

/// The shape of a generator.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Output resolution (a power of two ≥ 4).
    pub size: i64,
    /// Width of z, w and every style.
    pub style_dim: i64,
    /// Linear layers in the mapping network.
    pub n_mlp: usize,
    /// The mapping network's learning-rate multiplier (its weights are stored divided by it).
    pub lr_mlp: f64,
    /// Feature channels at 4, 8, 16, … `size` pixels.
    pub channels: Vec<i64>,
}

impl GeneratorConfig {
    /// log2 of the resolution.
    pub fn log_size(&self) -> usize {
        self.size.trailing_zeros() as usize
    }

    /// Number of w vectors a W+ code holds.
    pub fn n_latent(&self) -> usize {
        self.log_size() * 2 - 2
    }

    /// Number of noise inputs (styled convolutions).
    pub fn num_layers(&self) -> usize {
        (self.log_size() - 2) * 2 + 1
    }

    /// The published "config-f" widths (channel multiplier 2) at `size`.
    pub fn config_f(size: i64) -> Self {
        let log_size = size.trailing_zeros() as i64;
        let channels = (2..=log_size)
            .map(|l| match 1i64 << l {
                4..=32 => 512,
                64 => 512,
                128 => 256,
                256 => 128,
                512 => 64,
                _ => 32,
            })
            .collect();
        Self {
            size,
            style_dim: 512,
            n_mlp: 8,
            lr_mlp: 0.01,
            channels,
        }
    }

    /// Reads the shape from a generator's tensors (`style.*`, `input.input`, `convs.*`, …).
    pub fn from_tensors(t: &TensorSet, lr_mlp: f64) -> Result<Self, TensorSetError> {
        // The dimension `axis` of a tensor of `rank` dimensions; the rest of each shape is
        // checked when the layers take their tensors.
        let dim = |name: &str, rank: usize, axis: usize| -> Result<i64, TensorSetError> {
            let shape = t.shape(name)?;
            if shape.len() != rank {
                return Err(TensorSetError::Architecture(format!(
                    "{name} has shape {shape:?}, not {rank} dimensions"
                )));
            }
            Ok(shape[axis])
        };
        let style_dim = dim("style.1.weight", 2, 0)?;
        let n_mlp = (1..)
            .take_while(|i| t.contains(&format!("style.{i}.weight")))
            .count();
        let mut channels = vec![dim("input.input", 4, 1)?];
        let resolutions = t.count_indexed("to_rgbs");
        for k in 0..resolutions {
            // [1, c_out, c_in, k, k]
            channels.push(dim(&format!("convs.{}.conv.weight", 2 * k), 5, 1)?);
        }
        let log_size = resolutions + 2;
        if !(2..=14).contains(&log_size) || style_dim <= 0 {
            return Err(TensorSetError::Architecture(format!(
                "{resolutions} resolutions, style width {style_dim}"
            )));
        }
        Ok(Self {
            size: 1 << log_size,
            style_dim,
            n_mlp,
            lr_mlp,
            channels,
        })
    }

    /// Weights drawn at random in the published initialisation (for benchmarks: the cost of a
    /// frame does not depend on the values), named as a checkpoint names them.
    pub fn random_weights(&self, seed: i64) -> TensorSet {
        tch::manual_seed(seed);
        let opts = (Kind::Float, Device::Cpu);
        let sd = self.style_dim;
        let mut t = TensorSet::default();
        for i in 1..=self.n_mlp {
            t.insert(
                format!("style.{i}.weight"),
                Tensor::randn([sd, sd], opts) / self.lr_mlp,
            );
            t.insert(format!("style.{i}.bias"), Tensor::zeros([sd], opts));
        }
        let c4 = self.channels[0];
        t.insert("input.input", Tensor::randn([1, c4, 4, 4], opts));
        // A modulated convolution's weight (k×k, c_in → c_out) and style affine (bias 1).
        let modulated = |t: &mut TensorSet, name: &str, c_in: i64, c_out: i64, k: i64| {
            t.insert(
                format!("{name}.conv.weight"),
                Tensor::randn([1, c_out, c_in, k, k], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.weight"),
                Tensor::randn([c_in, sd], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.bias"),
                Tensor::ones([c_in], opts),
            );
        };
        let styled = |t: &mut TensorSet, name: String, c_in: i64, c_out: i64| {
            modulated(t, &name, c_in, c_out, 3);
            t.insert(format!("{name}.noise.weight"), Tensor::zeros([1], opts));
            t.insert(
                format!("{name}.activate.bias"),
                Tensor::zeros([c_out], opts),
            );
        };
        let to_rgb = |t: &mut TensorSet, name: String, c_in: i64| {
            modulated(t, &name, c_in, 3, 1);
            t.insert(format!("{name}.bias"), Tensor::zeros([1, 3, 1, 1], opts));
        };
        styled(&mut t, "conv1".into(), c4, c4);
        to_rgb(&mut t, "to_rgb1".into(), c4);
        for (k, pair) in self.channels.windows(2).enumerate() {
            styled(&mut t, format!("convs.{}", 2 * k), pair[0], pair[1]);
            styled(&mut t, format!("convs.{}", 2 * k + 1), pair[1], pair[1]);
            to_rgb(&mut t, format!("to_rgbs.{k}"), pair[1]);
        }
        for layer in 0..self.num_layers() {
            let r = 1i64 << ((layer + 5) / 2);
            t.insert(
                format!("noises.noise_{layer}"),
                Tensor::randn([1, 1, r, r], opts),
            );
        }
        t
    }
}

/// The separable [1, 3, 3, 1] low-pass filter as a normalised 4×4 kernel, times `gain`.
fn blur_kernel(gain: f64) -> Tensor {
    let k = Tensor::from_slice(&[1.0f32, 3.0, 3.0, 1.0]);
    let k2 = k.unsqueeze(1) * k.unsqueeze(0);
    (&k2 / k2.sum(Kind::Float)) * gain
}

/// Leaky ReLU (slope 0.2) after a per-channel bias, times √2.
fn fused_lrelu(x: &Tensor, bias: &Tensor) -> Tensor {
    let mut shape = vec![1, bias.size()[0]];
    shape.resize(x.dim(), 1);
    let y = x + bias.view(shape.as_slice());
    y.maximum(&(&y * LRELU_SLOPE)) * LRELU_GAIN
}

/// A convolution whose input channels are scaled per sample by a style.
struct ModulatedConv {
    /// [out, in, k, k], already times 1/√fan-in.
    weight: Tensor,
    /// For up-sampling layers: the transposed convolution and the following blur composed
    /// into one 6×6 kernel ([in, out, 6, 6]), which saves a full pass over the largest
    /// activations; used where the layer is narrow enough that the extra multiply-adds are
    /// cheaper than that pass.
    fused_up: Option<Tensor>,
    /// The composed kernel split into its four output phases ([4·out, in, 3, 3]): an ordinary
    /// 3×3 convolution at the input resolution followed by a pixel shuffle computes the same
    /// up-sampled output as the transposed 6×6 convolution.
    polyphase: Option<Tensor>,
    /// [in, out]: Σ over the kernel of weight², for the demodulation factors.
    weight_sq: Option<Tensor>,
    /// For up-sampling layers on the fused-kernel route: the weight as a transposed
    /// convolution wants it, [in, out, k, k].
    weight_t: Option<Tensor>,
    modulation: EqualLinear,
    upsample: bool,
    kernel: i64,
}

/// How a generator runs (the results are the same either way, up to rounding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Up-sampling layers with at most this many output channels use the composed 6×6
    /// kernel (four times the multiply-adds, one depthwise pass fewer). On an H100 composing
    /// every layer was fastest (430 vs 300 frames/s at 1024², fp16, batch 32): the depthwise
    /// blur costs more than the extra multiply-adds even at 512 channels.
    pub fuse_up_max_channels: i64,
    /// Run composed up-sampling layers as a 3×3 convolution with four times the output
    /// channels and a pixel shuffle, instead of a transposed convolution.
    pub polyphase: bool,
    /// On CUDA, run everything between two convolutions (blur, demodulation, noise, bias,
    /// activation, the next layer's styles, to-RGB and the skip image) as one fused kernel
    /// (`cuda_kernels`); up-sampling is then the plain transposed 3×3 convolution with the blur
    /// in the kernel. Falls back to the operators when NVRTC is missing.
    pub fused_epilogue: bool,
    /// With the fused kernels, keep activations channels-last (NHWC): cuDNN's convolutions
    /// run about twice as fast on them, and the kernels have an NHWC variant. On an H100
    /// (fp16, batch 32) this took the generator from 641 to 1,090 frames/s.
    pub channels_last: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            fuse_up_max_channels: i64::MAX,
            polyphase: false,
            fused_epilogue: true,
            channels_last: true,
        }
    }
}

/// The composed up-sampling kernel ([in, out, 6, 6], for a transposed stride-2 convolution
/// cropped by 2) as four 3×3 phase kernels for a padded-by-1 convolution whose output channels
/// `4·o + 2·r + s` are output pixel (2m + r, 2n + s) of channel `o`: the phase (r, s) uses taps
/// (2a + r, 2b + s), with the tap order reversed (a transposed convolution scatters where a
/// convolution gathers).
fn polyphase_kernel(fused: &Tensor) -> Tensor {
    let size = fused.size();
    let (c_in, c_out) = (size[0], size[1]);
    let phases: Vec<Tensor> = [(0, 0), (0, 1), (1, 0), (1, 1)]
        .iter()
        .map(|&(r, s)| {
            fused
                .slice(2, r, 6, 2)
                .slice(3, s, 6, 2)
                .flip([2, 3])
                .permute([1, 0, 2, 3])
        })
        .collect();
    Tensor::stack(&phases, 1)
        .reshape([c_out * 4, c_in, 3, 3])
        .contiguous()
}

impl ModulatedConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        c_out: i64,
        kernel: i64,
        style_dim: i64,
        demodulate: bool,
        upsample: bool,
        options: RunOptions,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let fuse_up_max_channels = if options.fused_epilogue {
            // The fused kernel blurs, so up-sampling stays a plain transposed convolution.
            -1
        } else {
            options.fuse_up_max_channels
        };
        let raw = t.take(
            &format!("{name}.weight"),
            &[1, c_out, c_in, kernel, kernel],
            device,
            Kind::Float,
        )?;
        let weight = raw.squeeze_dim(0) * (1.0 / ((c_in * kernel * kernel) as f64).sqrt());
        let weight_sq = demodulate.then(|| {
            weight
                .square()
                .sum_dim_intlist([2, 3].as_slice(), false, Kind::Float)
                .transpose(0, 1)
                .contiguous()
                .to_kind(kind)
        });
        let fused_up = (upsample && c_out <= fuse_up_max_channels).then(|| {
            // Full 2-D convolution of each k×k kernel with the 4×4 blur (×4): k+3 square.
            let blur = blur_kernel(4.0).to_device(device).view([1, 1, 4, 4]);
            weight
                .transpose(0, 1)
                .reshape([c_in * c_out, 1, kernel, kernel])
                .conv_transpose2d(&blur, None::<&Tensor>, [1, 1], [0, 0], [0, 0], 1, [1, 1])
                .reshape([c_in, c_out, kernel + 3, kernel + 3])
        });
        let polyphase = fused_up
            .as_ref()
            .filter(|_| options.polyphase && kernel == 3)
            .map(|k| polyphase_kernel(k).to_kind(kind));
        let fused_up = match polyphase {
            Some(_) => None,
            None => fused_up.map(|k| k.to_kind(kind)),
        };
        let weight_t = (upsample && options.fused_epilogue)
            .then(|| weight.transpose(0, 1).contiguous().to_kind(kind));
        Ok(Self {
            weight: weight.to_kind(kind),
            fused_up,
            polyphase,
            weight_sq,
            weight_t,
            modulation: EqualLinear::new(
                t,
                &format!("{name}.modulation"),
                (style_dim, c_in),
                1.0,
                device,
                kind,
            )?,
            upsample,
            kernel,
        })
    }

    /// The convolution of the modulated input; also returns the styles.
    fn convolve(&self, x: &Tensor, w: &Tensor, up_blur: &Tensor) -> (Tensor, Tensor) {
        let batch = x.size()[0];
        let style = self.modulation.forward(w);
        let c_in = style.size()[1];
        let x = x * style.view([batch, c_in, 1, 1]);
        let out = match (&self.fused_up, self.upsample) {
            _ if self.polyphase.is_some() => {
                let kernel = self.polyphase.as_ref().unwrap_or(&self.weight);
                x.conv2d(kernel, None::<&Tensor>, [1, 1], [1, 1], [1, 1], 1)
                    .pixel_shuffle(2)
            }
            (Some(fused), _) => {
                // Crops two pixels each side: the blur's padding of one after a 2H+1 output.
                x.conv_transpose2d(fused, None::<&Tensor>, [2, 2], [2, 2], [0, 0], 1, [1, 1])
            }
            // Transposed stride-2 convolution, then the [1,3,3,1] blur (×4) padded by one.
            (None, true) => depthwise(&self.convolve_styled(&x), up_blur, 1),
            (None, false) => self.convolve_styled(&x),
        };
        (out, style)
    }

    /// Per-sample output scales [N, out, 1, 1] that demodulate, times `gain`.
    fn demodulation(&self, style: &Tensor, gain: f64) -> Option<Tensor> {
        self.weight_sq.as_ref().map(|weight_sq| {
            let batch = style.size()[0];
            let demod = (style.square().mm(weight_sq) + 1e-8).rsqrt() * gain;
            let c_out = demod.size()[1];
            demod.view([batch, c_out, 1, 1])
        })
    }

    /// The fused route's convolution of already-styled activations: a 3×3 convolution, or
    /// for up-sampling the transposed stride-2 convolution ([N, out, 2H+1, 2W+1]) whose blur
    /// the epilogue kernel applies.
    fn convolve_styled(&self, x: &Tensor) -> Tensor {
        match (&self.weight_t, self.upsample) {
            (Some(weight_t), _) => {
                x.conv_transpose2d(weight_t, None::<&Tensor>, [2, 2], [0, 0], [0, 0], 1, [1, 1])
            }
            (None, true) => x.conv_transpose2d(
                &self.weight.transpose(0, 1),
                None::<&Tensor>,
                [2, 2],
                [0, 0],
                [0, 0],
                1,
                [1, 1],
            ),
            (None, false) => x.conv2d(
                &self.weight,
                None::<&Tensor>,
                [1, 1],
                [self.kernel / 2, self.kernel / 2],
                [1, 1],
                1,
            ),
        }
    }

    /// fp32 [N, out] demodulation factors times `gain`, for the epilogue kernel.
    fn demodulation_f32(&self, style: &Tensor, gain: f64) -> Option<Tensor> {
        self.weight_sq.as_ref().map(|weight_sq| {
            ((style
                .to_kind(Kind::Float)
                .square()
                .mm(&weight_sq.to_kind(Kind::Float))
                + 1e-8)
                .rsqrt()
                * gain)
                .contiguous()
        })
    }

    fn forward(&self, x: &Tensor, w: &Tensor, up_blur: &Tensor) -> Tensor {
        let (out, style) = self.convolve(x, w, up_blur);
        match self.demodulation(&style, 1.0) {
            Some(demod) => out * demod,
            None => out,
        }
    }
}

/// The same 4×4 `kernel` ([4, 4]) over every channel, zero padding `pad` on each side.
fn depthwise(x: &Tensor, kernel: &Tensor, pad: i64) -> Tensor {
    let c = x.size()[1];
    let k = kernel.size()[0];
    let weight = kernel.view([1, 1, k, k]).expand([c, 1, k, k], false);
    x.conv2d(&weight, None::<&Tensor>, [1, 1], [pad, pad], [1, 1], c)
}

/// Up-samples ×2: zeros between the pixels, then the [1,3,3,1] blur (×4), cropped to 2H×2W.
fn upsample_2x(x: &Tensor, up_blur: &Tensor) -> Tensor {
    let c = x.size()[1];
    let weight = up_blur.view([1, 1, 4, 4]).expand([c, 1, 4, 4], false);
    x.conv_transpose2d(&weight, None::<&Tensor>, [2, 2], [1, 1], [0, 0], c, [1, 1])
}

/// Modulated convolution, noise, bias and activation.
struct StyledConv {
    conv: ModulatedConv,
    /// √2 · (noise strength × the fixed noise + bias), [1, out, H, W]: everything added after
    /// the convolution that does not depend on the sample, computed once.
    offset: Tensor,
    /// The same two parts apart, fp32, for the epilogue kernel: √2 × strength × noise [H, W]
    /// and √2 × bias [out].
    noise_gain: Tensor,
    bias_gain: Tensor,
}

impl StyledConv {
    #[allow(clippy::too_many_arguments)]
    fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        c_out: i64,
        style_dim: i64,
        upsample: bool,
        noise: &Tensor,
        options: RunOptions,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let noise_weight = t.take(&format!("{name}.noise.weight"), &[1], device, Kind::Float)?;
        let bias = t.take(
            &format!("{name}.activate.bias"),
            &[c_out],
            device,
            Kind::Float,
        )?;
        let noise_gain = (&noise_weight * noise.to_kind(Kind::Float) * LRELU_GAIN)
            .squeeze_dims([0, 1].as_slice())
            .contiguous();
        let bias_gain = (&bias * LRELU_GAIN).contiguous();
        let offset =
            (noise_weight * noise.to_kind(Kind::Float) + bias.view([1, c_out, 1, 1])) * LRELU_GAIN;
        Ok(Self {
            noise_gain,
            bias_gain,
            conv: ModulatedConv::new(
                t,
                &format!("{name}.conv"),
                c_in,
                c_out,
                3,
                style_dim,
                true,
                upsample,
                options,
                device,
                kind,
            )?,
            offset: offset.to_kind(kind),
        })
    }

    /// lrelu(conv·demod + noise + bias)·√2, as two passes over the output: √2 is folded into
    /// the demodulation and the offset (the leaky ReLU is positively homogeneous), and the
    /// leaky ReLU is `leaky_relu_backward(y, y)`, the one-pass form that takes a slope.
    fn forward(&self, x: &Tensor, w: &Tensor, up_blur: &Tensor) -> Tensor {
        let (out, style) = self.conv.convolve(x, w, up_blur);
        let y = match self.conv.demodulation(&style, LRELU_GAIN) {
            Some(demod) => self.offset.addcmul(&out, &demod),
            None => out * LRELU_GAIN + &self.offset,
        };
        y.leaky_relu_backward(&y, LRELU_SLOPE, false)
    }
}

/// Modulated 1×1 convolution to RGB (no demodulation) plus the up-sampled skip image.
struct ToRgb {
    conv: ModulatedConv,
    bias: Tensor,
    /// fp32 copies for the epilogue kernel: weight [3, in], bias [3].
    weight_f32: Tensor,
    bias_f32: Tensor,
}

impl ToRgb {
    fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        style_dim: i64,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let conv = ModulatedConv::new(
            t,
            &format!("{name}.conv"),
            c_in,
            3,
            1,
            style_dim,
            false,
            false,
            RunOptions {
                fuse_up_max_channels: 0,
                polyphase: false,
                fused_epilogue: false,
                channels_last: false,
            },
            device,
            kind,
        )?;
        let bias = t.take(&format!("{name}.bias"), &[1, 3, 1, 1], device, kind)?;
        Ok(Self {
            weight_f32: conv
                .weight
                .to_kind(Kind::Float)
                .view([3, c_in])
                .contiguous(),
            bias_f32: bias.to_kind(Kind::Float).view([3]).contiguous(),
            conv,
            bias,
        })
    }

    fn forward(&self, x: &Tensor, w: &Tensor, skip: Option<&Tensor>, up_blur: &Tensor) -> Tensor {
        let out = self.conv.forward(x, w, up_blur) + &self.bias;
        match skip {
            Some(skip) => out + upsample_2x(skip, up_blur),
            None => out,
        }
    }
}

/// One styled convolution in synthesis order: its name, the layer, its W+ index, and the
/// to-RGB that follows it with that one's W+ index.
type FusedLayer<'a> = (&'a str, &'a StyledConv, usize, Option<(&'a ToRgb, usize)>);

/// A StyleGAN2 generator ready to run on one device in one precision.
pub struct Generator {
    config: GeneratorConfig,
    mapping: Vec<EqualLinear>,
    input: Tensor,
    conv1: StyledConv,
    to_rgb1: ToRgb,
    convs: Vec<StyledConv>,
    to_rgbs: Vec<ToRgb>,
    up_blur: Tensor,
    device: Device,
    kind: Kind,
    channels_last: bool,
    /// Present when the fused-kernel route is on (CUDA, fp32 or fp16, NVRTC found).
    kernels: Option<EpilogueKernels>,
}

/// The same values with NHWC strides, the layout tensor-core convolutions prefer; convolutions
/// and element-wise ops keep it for their outputs.
pub fn to_channels_last(t: &Tensor) -> Tensor {
    if t.dim() == 4 {
        t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
    } else {
        t.shallow_clone()
    }
}

impl Generator {
    /// Builds the generator from its tensors (names without the `g_ema.` prefix).
    pub fn new(
        t: &TensorSet,
        config: &GeneratorConfig,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        Self::with_options(t, config, device, kind, RunOptions::default())
    }

    /// [`Generator::new`] with explicit run options.
    pub fn with_options(
        t: &TensorSet,
        config: &GeneratorConfig,
        device: Device,
        kind: Kind,
        options: RunOptions,
    ) -> Result<Self, TensorSetError> {
        let kernels = super::cuda_kernels::load_for_generator(
            device,
            kind,
            options.fused_epilogue,
            EpilogueKernels::new,
            "StyleGAN2",
        );
        let fuse = RunOptions {
            fused_epilogue: kernels.is_some(),
            ..options
        };
        let sd = config.style_dim;
        let mapping = (1..=config.n_mlp)
            .map(|i| {
                EqualLinear::new(
                    t,
                    &format!("style.{i}"),
                    (sd, sd),
                    config.lr_mlp,
                    device,
                    kind,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let c4 = config.channels[0];
        let noises = (0..config.num_layers())
            .map(|layer| {
                let r = 1i64 << ((layer + 5) / 2);
                t.take(
                    &format!("noises.noise_{layer}"),
                    &[1, 1, r, r],
                    device,
                    Kind::Float,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut convs = Vec::new();
        let mut to_rgbs = Vec::new();
        for (k, pair) in config.channels.windows(2).enumerate() {
            let (c_in, c_out) = (pair[0], pair[1]);
            convs.push(StyledConv::new(
                t,
                &format!("convs.{}", 2 * k),
                c_in,
                c_out,
                sd,
                true,
                &noises[2 * k + 1],
                fuse,
                device,
                kind,
            )?);
            convs.push(StyledConv::new(
                t,
                &format!("convs.{}", 2 * k + 1),
                c_out,
                c_out,
                sd,
                false,
                &noises[2 * k + 2],
                fuse,
                device,
                kind,
            )?);
            to_rgbs.push(ToRgb::new(
                t,
                &format!("to_rgbs.{k}"),
                c_out,
                sd,
                device,
                kind,
            )?);
        }
        let mut generator = Self {
            config: config.clone(),
            mapping,
            input: t.take("input.input", &[1, c4, 4, 4], device, kind)?,
            conv1: StyledConv::new(
                t, "conv1", c4, c4, sd, false, &noises[0], fuse, device, kind,
            )?,
            to_rgb1: ToRgb::new(t, "to_rgb1", c4, sd, device, kind)?,
            convs,
            to_rgbs,
            up_blur: blur_kernel(4.0).to_device(device).to_kind(kind),
            device,
            kind,
            channels_last: false,
            kernels,
        };
        if generator.kernels.is_some() && options.channels_last {
            generator.use_channels_last();
        }
        Ok(generator)
    }

    /// Keeps weights and activations in NHWC layout (faster for fp16 on tensor cores).
    pub fn use_channels_last(&mut self) {
        let convert = |c: &mut ModulatedConv| {
            c.weight = to_channels_last(&c.weight);
            c.weight_t = c.weight_t.as_ref().map(to_channels_last);
        };
        convert(&mut self.conv1.conv);
        convert(&mut self.to_rgb1.conv);
        self.convs.iter_mut().for_each(|c| convert(&mut c.conv));
        self.to_rgbs.iter_mut().for_each(|c| convert(&mut c.conv));
        self.input = to_channels_last(&self.input);
        self.channels_last = true;
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

    /// Whether synthesis runs the fused CUDA kernels.
    pub fn uses_fused_kernels(&self) -> bool {
        self.kernels.is_some()
    }

    /// The mapping network: z [N, style_dim] → w [N, style_dim].
    pub fn mapping(&self, z: &Tensor) -> Tensor {
        let z = z.to_device(self.device).to_kind(self.kind);
        let mut x = &z * (z.square().mean_dim(1, true, self.kind) + 1e-8).rsqrt();
        for layer in &self.mapping {
            let y = x.linear(&layer.weight, None::<&Tensor>);
            x = fused_lrelu(&y, &layer.bias);
        }
        x
    }

    /// One W+ code from one or two w's: `w1` for layers before `inject_index`, `w2` after.
    pub fn mix(&self, w1: &Tensor, w2: Option<&Tensor>, inject_index: usize) -> Tensor {
        let n = self.config.n_latent() as i64;
        match w2 {
            None => w1.unsqueeze(1).repeat([1, n, 1]),
            Some(w2) => {
                let k = (inject_index as i64).clamp(0, n);
                Tensor::cat(
                    &[
                        w1.unsqueeze(1).repeat([1, k, 1]),
                        w2.unsqueeze(1).repeat([1, n - k, 1]),
                    ],
                    1,
                )
            }
        }
    }

    /// Truncation towards `average`: average + ψ (w − average).
    pub fn truncate(w: &Tensor, average: &Tensor, psi: f64) -> Tensor {
        average + (w - average) * psi
    }

    /// The synthesis network: W+ [N, n_latent, style_dim] → images [N, 3, size, size], raw
    /// (not clamped), with the checkpoint's fixed noise.
    pub fn synthesis(&self, w_plus: &Tensor) -> Tensor {
        self.synthesis_profiled(w_plus, |_| {})
    }

    /// [`Generator::synthesis`], calling `step` after each convolution and each epilogue with
    /// the layer's name (a benchmark synchronises there to time the layers).
    pub fn synthesis_profiled(&self, w_plus: &Tensor, mut step: impl FnMut(&str)) -> Tensor {
        if let Some(kernels) = &self.kernels {
            match self.synthesis_fused(Epilogue::Kernels(kernels), w_plus, &mut step) {
                Ok(images) => return images,
                Err(e) => tracing::warn!(
                    error = %crate::chain::Chain(&e),
                    "fused kernels failed, running the operators"
                ),
            }
        }
        let w_plus = w_plus.to_device(self.device).to_kind(self.kind);
        let batch = w_plus.size()[0];
        let latent = |i: usize| w_plus.select(1, i as i64);
        let blur = &self.up_blur;
        let mut x = self.input.expand([batch, -1, -1, -1], false);
        if self.channels_last {
            x = to_channels_last(&x);
        }
        x = self.conv1.forward(&x, &latent(0), blur);
        let mut skip = self.to_rgb1.forward(&x, &latent(1), None, blur);
        for (k, to_rgb) in self.to_rgbs.iter().enumerate() {
            let i = 2 * k + 1;
            x = self.convs[2 * k].forward(&x, &latent(i), blur);
            step(&format!("convs.{}", 2 * k));
            x = self.convs[2 * k + 1].forward(&x, &latent(i + 1), blur);
            step(&format!("convs.{}", 2 * k + 1));
            skip = to_rgb.forward(&x, &latent(i + 2), Some(&skip), blur);
            step(&format!("to_rgbs.{k}"));
        }
        skip
    }

    /// The fused route with its epilogues computed by operators (for tests on any device).
    pub fn synthesis_fused_reference(&self, w_plus: &Tensor) -> Tensor {
        self.synthesis_fused(Epilogue::Operators, w_plus, &mut |_| {})
            .unwrap_or_else(|e| panic!("the operator epilogue cannot fail: {e}"))
    }

    /// Synthesis on the fused-kernel route: per layer one convolution of styled activations
    /// (cuDNN) and one epilogue kernel that writes the next layer's styled input and, every
    /// second layer, the RGB image.
    fn synthesis_fused(
        &self,
        epilogue: Epilogue,
        w_plus: &Tensor,
        step: &mut dyn FnMut(&str),
    ) -> Result<Tensor, super::cuda_kernels::KernelError> {
        let w_plus = w_plus.to_device(self.device).to_kind(self.kind);
        let batch = w_plus.size()[0];
        let style_of =
            |conv: &ModulatedConv, i: usize| conv.modulation.forward(&w_plus.select(1, i as i64));
        let mut layers: Vec<FusedLayer> = vec![("conv1", &self.conv1, 0, Some((&self.to_rgb1, 1)))];
        let names: Vec<String> = (0..self.convs.len())
            .map(|k| format!("convs.{k}"))
            .collect();
        for (k, to_rgb) in self.to_rgbs.iter().enumerate() {
            layers.push((&names[2 * k], &self.convs[2 * k], 2 * k + 1, None));
            layers.push((
                &names[2 * k + 1],
                &self.convs[2 * k + 1],
                2 * k + 2,
                Some((to_rgb, 2 * k + 3)),
            ));
        }
        let mut style = style_of(&self.conv1.conv, 0);
        let c4 = self.config.channels[0];
        let mut x = self.input.expand([batch, -1, -1, -1], false) * style.view([batch, c4, 1, 1]);
        if self.channels_last {
            x = to_channels_last(&x);
        }
        let mut image: Option<Tensor> = None;
        for (j, &(name, layer, _, to_rgb)) in layers.iter().enumerate() {
            let out = layer.conv.convolve_styled(&x);
            step(&format!("{name} conv"));
            let dgain = layer
                .conv
                .demodulation_f32(&style, LRELU_GAIN)
                .unwrap_or_else(|| {
                    Tensor::full(
                        [batch, out.size()[1]],
                        LRELU_GAIN,
                        (Kind::Float, self.device),
                    )
                });
            let next_style = layers
                .get(j + 1)
                .map(|&(_, next, i, _)| style_of(&next.conv, i));
            let next_style_f32 = next_style
                .as_ref()
                .map(|s| s.to_kind(Kind::Float).contiguous());
            let rgb_weights = to_rgb.map(|(to_rgb, i)| {
                let s = style_of(&to_rgb.conv, i).to_kind(Kind::Float);
                (s.unsqueeze(1) * to_rgb.weight_f32.unsqueeze(0)).contiguous()
            });
            let input = EpilogueInput {
                conv_out: &out,
                upsampled: layer.conv.upsample,
                dgain: &dgain,
                noise: &layer.noise_gain,
                bias: &layer.bias_gain,
                next_style: next_style_f32.as_ref(),
                rgb: rgb_weights
                    .as_ref()
                    .zip(to_rgb)
                    .map(|(w, (to_rgb, _))| (w, &to_rgb.bias_f32, image.as_ref())),
                channels_last: self.channels_last,
            };
            let (next_x, rgb) = match epilogue {
                Epilogue::Kernels(kernels) => kernels.run(&input)?,
                Epilogue::Operators => epilogue_with_operators(&input),
            };
            step(&format!("{name} epilogue"));
            if let Some(rgb) = rgb {
                image = Some(rgb);
            }
            if let (Some(next_x), Some(next_style)) = (next_x, next_style) {
                x = next_x;
                style = next_style;
            }
        }
        image.ok_or(super::cuda_kernels::KernelError::NoImage)
    }

    /// Runs `f` on every hook point of one synthesis pass (for parity checks).
    pub fn synthesis_traced(&self, w_plus: &Tensor, mut f: impl FnMut(&str, &Tensor)) -> Tensor {
        let w_plus = w_plus.to_device(self.device).to_kind(self.kind);
        let batch = w_plus.size()[0];
        let latent = |i: usize| w_plus.select(1, i as i64);
        let blur = &self.up_blur;
        let mut x = self.input.expand([batch, -1, -1, -1], false);
        f("input", &x);
        x = self.conv1.forward(&x, &latent(0), blur);
        f("conv1", &x);
        let mut skip = self.to_rgb1.forward(&x, &latent(1), None, blur);
        f("to_rgb1", &skip);
        for (k, to_rgb) in self.to_rgbs.iter().enumerate() {
            let i = 2 * k + 1;
            x = self.convs[2 * k].forward(&x, &latent(i), blur);
            f(&format!("convs.{}", 2 * k), &x);
            x = self.convs[2 * k + 1].forward(&x, &latent(i + 1), blur);
            f(&format!("convs.{}", 2 * k + 1), &x);
            skip = to_rgb.forward(&x, &latent(i + 2), Some(&skip), blur);
            f(&format!("to_rgbs.{k}"), &skip);
        }
        skip
    }
}

/// Who computes the fused route's epilogues.
#[derive(Clone, Copy)]
enum Epilogue<'a> {
    Kernels(&'a EpilogueKernels),
    /// The same arithmetic in libtorch operators: the kernel's specification, runnable on any
    /// device, so that the fused route's bookkeeping is checked against the fixtures on a CPU.
    Operators,
}

/// What the epilogue kernel computes (`cuda_kernels::SOURCE`), in operators, in fp32.
fn epilogue_with_operators(input: &EpilogueInput) -> (Option<Tensor>, Option<Tensor>) {
    let kind = input.conv_out.kind();
    let out = input.conv_out.to_kind(Kind::Float);
    let blur = blur_kernel(4.0).to_device(out.device());
    let v = if input.upsampled {
        depthwise(&out, &blur, 1)
    } else {
        out
    };
    let size = v.size();
    let (n, c, h, w) = (size[0], size[1], size[2], size[3]);
    let a = v * input.dgain.view([n, c, 1, 1])
        + input.noise.view([1, 1, h, w])
        + input.bias.view([1, c, 1, 1]);
    let y = a.maximum(&(&a * LRELU_SLOPE));
    let next = input
        .next_style
        .map(|style| (&y * style.view([n, c, 1, 1])).to_kind(kind));
    let rgb = input.rgb.map(|(weights, bias, skip)| {
        let mut rgb =
            weights.bmm(&y.view([n, c, h * w])).view([n, 3, h, w]) + bias.view([1, 3, 1, 1]);
        if let Some(skip) = skip {
            rgb += upsample_2x(&skip.to_kind(Kind::Float), &blur);
        }
        rgb.to_kind(kind)
    });
    (next, rgb)
}

/// Up-sampling ×2 as the generator's skip path does it (exposed for parity checks).
pub fn upsample(x: &Tensor) -> Tensor {
    upsample_2x(x, &blur_kernel(4.0).to_device(x.device()).to_kind(x.kind()))
}

/// The blur after a transposed convolution (exposed for parity checks).
pub fn blur_after_transposed(x: &Tensor) -> Tensor {
    depthwise(
        x,
        &blur_kernel(4.0).to_device(x.device()).to_kind(x.kind()),
        1,
    )
}

/// Down-sampling ×2: blur, then every other pixel (exposed for parity checks).
pub fn downsample(x: &Tensor) -> Tensor {
    let c = x.size()[1];
    let k = blur_kernel(1.0).to_device(x.device()).to_kind(x.kind());
    let weight = k.view([1, 1, 4, 4]).expand([c, 1, 4, 4], false);
    x.conv2d(&weight, None::<&Tensor>, [2, 2], [1, 1], [1, 1], c)
}

/// The generator's activation (exposed for parity checks).
pub fn leaky_relu_with_bias(x: &Tensor, bias: &Tensor) -> Tensor {
    fused_lrelu(x, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_composed_up_sampling_kernel_equals_transposed_conv_then_blur() {
        tch::manual_seed(3);
        // The operator route's options (the fused route does not compose up-sampling).
        let operators = RunOptions {
            fused_epilogue: false,
            ..RunOptions::default()
        };
        let mut t = TensorSet::default();
        let opts = (Kind::Float, Device::Cpu);
        t.insert("c.weight", Tensor::randn([1, 6, 5, 3, 3], opts));
        t.insert("c.modulation.weight", Tensor::randn([5, 8], opts));
        t.insert("c.modulation.bias", Tensor::ones([5], opts));
        let fused = ModulatedConv::new(
            &t,
            "c",
            5,
            6,
            3,
            8,
            true,
            true,
            operators,
            Device::Cpu,
            Kind::Float,
        )
        .unwrap();
        assert!(fused.fused_up.is_some());
        let plain = ModulatedConv {
            fused_up: None,
            ..ModulatedConv::new(
                &t,
                "c",
                5,
                6,
                3,
                8,
                true,
                true,
                RunOptions {
                    fuse_up_max_channels: 0,
                    ..RunOptions::default()
                },
                Device::Cpu,
                Kind::Float,
            )
            .unwrap()
        };
        let x = Tensor::randn([2, 5, 7, 7], opts);
        let w = Tensor::randn([2, 8], opts);
        let blur = blur_kernel(4.0);
        let poly = ModulatedConv::new(
            &t,
            "c",
            5,
            6,
            3,
            8,
            true,
            true,
            RunOptions {
                polyphase: true,
                ..operators
            },
            Device::Cpu,
            Kind::Float,
        )
        .unwrap();
        assert!(poly.polyphase.is_some());
        let a = fused.forward(&x, &w, &blur);
        let b = plain.forward(&x, &w, &blur);
        let c = poly.forward(&x, &w, &blur);
        let diff = (&c - &b).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "polyphase {diff}");
        assert_eq!(a.size(), vec![2, 6, 14, 14]);
        let diff = (a - b).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
    }
}
