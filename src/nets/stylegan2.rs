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

use super::tensor_set::{TensorSet, TensorSetError};
use tch::{Device, Kind, Tensor};

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
        let style = t.shape("style.1.weight")?;
        let style_dim = style[0];
        let n_mlp = (1..)
            .take_while(|i| t.contains(&format!("style.{i}.weight")))
            .count();
        let input = t.shape("input.input")?;
        let mut channels = vec![input[1]];
        let resolutions = t.count_indexed("to_rgbs");
        for k in 0..resolutions {
            channels.push(t.shape(&format!("convs.{}.conv.weight", 2 * k))?[1]);
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
        let styled = |t: &mut TensorSet, name: String, c_in: i64, c_out: i64| {
            t.insert(
                format!("{name}.conv.weight"),
                Tensor::randn([1, c_out, c_in, 3, 3], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.weight"),
                Tensor::randn([c_in, sd], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.bias"),
                Tensor::ones([c_in], opts),
            );
            t.insert(format!("{name}.noise.weight"), Tensor::zeros([1], opts));
            t.insert(
                format!("{name}.activate.bias"),
                Tensor::zeros([c_out], opts),
            );
        };
        let to_rgb = |t: &mut TensorSet, name: String, c_in: i64| {
            t.insert(
                format!("{name}.conv.weight"),
                Tensor::randn([1, 3, c_in, 1, 1], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.weight"),
                Tensor::randn([c_in, sd], opts),
            );
            t.insert(
                format!("{name}.conv.modulation.bias"),
                Tensor::ones([c_in], opts),
            );
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

/// Equalised-learning-rate linear layer, with its runtime scale folded into the stored weight.
struct EqualLinear {
    weight: Tensor,
    bias: Tensor,
}

impl EqualLinear {
    fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        c_out: i64,
        lr_mul: f64,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let w = t.take(
            &format!("{name}.weight"),
            &[c_out, c_in],
            device,
            Kind::Float,
        )?;
        let b = t.take(&format!("{name}.bias"), &[c_out], device, Kind::Float)?;
        Ok(Self {
            weight: (w * (lr_mul / (c_in as f64).sqrt())).to_kind(kind),
            bias: (b * lr_mul).to_kind(kind),
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
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
    /// [in, out]: Σ over the kernel of weight², for the demodulation factors.
    weight_sq: Option<Tensor>,
    modulation: EqualLinear,
    upsample: bool,
    kernel: i64,
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
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
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
        Ok(Self {
            weight: weight.to_kind(kind),
            weight_sq,
            modulation: EqualLinear::new(
                t,
                &format!("{name}.modulation"),
                style_dim,
                c_in,
                1.0,
                device,
                kind,
            )?,
            upsample,
            kernel,
        })
    }

    fn forward(&self, x: &Tensor, w: &Tensor, up_blur: &Tensor) -> Tensor {
        let batch = x.size()[0];
        let style = self.modulation.forward(w);
        let c_in = style.size()[1];
        let x = x * style.view([batch, c_in, 1, 1]);
        let out = if self.upsample {
            // Transposed stride-2 convolution, then the [1,3,3,1] blur (×4) padded by one.
            let y = x.conv_transpose2d(
                &self.weight.transpose(0, 1),
                None::<&Tensor>,
                [2, 2],
                [0, 0],
                [0, 0],
                1,
                [1, 1],
            );
            depthwise(&y, up_blur, 1)
        } else {
            x.conv2d(
                &self.weight,
                None::<&Tensor>,
                [1, 1],
                [self.kernel / 2, self.kernel / 2],
                [1, 1],
                1,
            )
        };
        match &self.weight_sq {
            Some(weight_sq) => {
                let demod = (style.square().mm(weight_sq) + 1e-8).rsqrt();
                let c_out = demod.size()[1];
                out * demod.view([batch, c_out, 1, 1])
            }
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
    noise_weight: Tensor,
    bias: Tensor,
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
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        Ok(Self {
            conv: ModulatedConv::new(
                t,
                &format!("{name}.conv"),
                c_in,
                c_out,
                3,
                style_dim,
                true,
                upsample,
                device,
                kind,
            )?,
            noise_weight: t.take(&format!("{name}.noise.weight"), &[1], device, kind)?,
            bias: t.take(&format!("{name}.activate.bias"), &[c_out], device, kind)?,
        })
    }

    fn forward(&self, x: &Tensor, w: &Tensor, noise: &Tensor, up_blur: &Tensor) -> Tensor {
        let out = self.conv.forward(x, w, up_blur) + &self.noise_weight * noise;
        fused_lrelu(&out, &self.bias)
    }
}

/// Modulated 1×1 convolution to RGB (no demodulation) plus the up-sampled skip image.
struct ToRgb {
    conv: ModulatedConv,
    bias: Tensor,
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
        Ok(Self {
            conv: ModulatedConv::new(
                t,
                &format!("{name}.conv"),
                c_in,
                3,
                1,
                style_dim,
                false,
                false,
                device,
                kind,
            )?,
            bias: t.take(&format!("{name}.bias"), &[1, 3, 1, 1], device, kind)?,
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

/// A StyleGAN2 generator ready to run on one device in one precision.
pub struct Generator {
    config: GeneratorConfig,
    mapping: Vec<EqualLinear>,
    input: Tensor,
    conv1: StyledConv,
    to_rgb1: ToRgb,
    convs: Vec<StyledConv>,
    to_rgbs: Vec<ToRgb>,
    noises: Vec<Tensor>,
    up_blur: Tensor,
    device: Device,
    kind: Kind,
}

impl Generator {
    /// Builds the generator from its tensors (names without the `g_ema.` prefix).
    pub fn new(
        t: &TensorSet,
        config: &GeneratorConfig,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let sd = config.style_dim;
        let mapping = (1..=config.n_mlp)
            .map(|i| {
                EqualLinear::new(
                    t,
                    &format!("style.{i}"),
                    sd,
                    sd,
                    config.lr_mlp,
                    device,
                    kind,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let c4 = config.channels[0];
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
        let noises = (0..config.num_layers())
            .map(|layer| {
                let r = 1i64 << ((layer + 5) / 2);
                t.take(
                    &format!("noises.noise_{layer}"),
                    &[1, 1, r, r],
                    device,
                    kind,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            config: config.clone(),
            mapping,
            input: t.take("input.input", &[1, c4, 4, 4], device, kind)?,
            conv1: StyledConv::new(t, "conv1", c4, c4, sd, false, device, kind)?,
            to_rgb1: ToRgb::new(t, "to_rgb1", c4, sd, device, kind)?,
            convs,
            to_rgbs,
            noises,
            up_blur: blur_kernel(4.0).to_device(device).to_kind(kind),
            device,
            kind,
        })
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
        let w_plus = w_plus.to_device(self.device).to_kind(self.kind);
        let batch = w_plus.size()[0];
        let latent = |i: usize| w_plus.select(1, i as i64);
        let blur = &self.up_blur;
        let mut x = self.input.expand([batch, -1, -1, -1], false);
        x = self.conv1.forward(&x, &latent(0), &self.noises[0], blur);
        let mut skip = self.to_rgb1.forward(&x, &latent(1), None, blur);
        for (k, to_rgb) in self.to_rgbs.iter().enumerate() {
            let i = 2 * k + 1;
            x = self.convs[2 * k].forward(&x, &latent(i), &self.noises[i], blur);
            x = self.convs[2 * k + 1].forward(&x, &latent(i + 1), &self.noises[i + 1], blur);
            skip = to_rgb.forward(&x, &latent(i + 2), Some(&skip), blur);
        }
        skip
    }

    /// Runs `f` on every hook point of one synthesis pass (for parity checks).
    pub fn synthesis_traced(&self, w_plus: &Tensor, mut f: impl FnMut(&str, &Tensor)) -> Tensor {
        let w_plus = w_plus.to_device(self.device).to_kind(self.kind);
        let batch = w_plus.size()[0];
        let latent = |i: usize| w_plus.select(1, i as i64);
        let blur = &self.up_blur;
        let mut x = self.input.expand([batch, -1, -1, -1], false);
        f("input", &x);
        x = self.conv1.forward(&x, &latent(0), &self.noises[0], blur);
        f("conv1", &x);
        let mut skip = self.to_rgb1.forward(&x, &latent(1), None, blur);
        f("to_rgb1", &skip);
        for (k, to_rgb) in self.to_rgbs.iter().enumerate() {
            let i = 2 * k + 1;
            x = self.convs[2 * k].forward(&x, &latent(i), &self.noises[i], blur);
            f(&format!("convs.{}", 2 * k), &x);
            x = self.convs[2 * k + 1].forward(&x, &latent(i + 1), &self.noises[i + 1], blur);
            f(&format!("convs.{}", 2 * k + 1), &x);
            skip = to_rgb.forward(&x, &latent(i + 2), Some(&skip), blur);
            f(&format!("to_rgbs.{k}"), &skip);
        }
        skip
    }
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
