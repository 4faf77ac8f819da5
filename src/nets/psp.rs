//! The pSp encoder (Richardson et al. 2021, "Encoding in Style", <https://arxiv.org/abs/2008.00951>):
//! an IR-SE50 backbone (Deng et al. 2019, ArcFace's improved residual units with
//! squeeze-and-excitation) whose features at three scales feed a small feature pyramid, and one
//! "map2style" head per W+ layer: coarse layers read the 16×16 features, middle ones the 32×32,
//! fine ones the 64×64. Tensor names are those of the published checkpoints (`encoder.*`).
//!
//! Widths are read from the weight shapes, and every shape is checked against the widths before
//! it is used, so a damaged checkpoint is refused by name instead of failing inside a layer. The
//! backbone and heads are shared with e4e.

use super::tensor_set::{TensorSet, TensorSetError};
use tch::{Device, Kind, Tensor};

/// Units per stage of IR-SE50.
const IR_SE50_UNITS: [usize; 4] = [3, 4, 14, 3];
/// Backbone units whose outputs are the 64×64, 32×32 and 16×16 features (for a 256² input).
const FEATURE_UNITS: [usize; 3] = [6, 20, 23];
/// W+ layers below this read the 16×16 features; up to `MIDDLE` the 32×32; the rest 64×64.
pub const COARSE: usize = 3;
pub const MIDDLE: usize = 7;

const BN_EPS: f64 = 1e-5;

/// The tensor `name` as float on `device`, of shape `expected` (−1 matches any size).
fn take(
    t: &TensorSet,
    name: &str,
    expected: &[i64],
    device: Device,
) -> Result<Tensor, TensorSetError> {
    t.take(name, expected, device, Kind::Float)
}

/// Inference-mode batch norm, folded to a per-channel scale and shift.
struct BatchNorm {
    scale: Tensor,
    shift: Tensor,
}

impl BatchNorm {
    /// Batch norm `name` over `c` channels.
    fn new(
        t: &TensorSet,
        name: &str,
        c: i64,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let param = |n: &str| take(t, &format!("{name}.{n}"), &[c], device);
        let (weight, bias) = (param("weight")?, param("bias")?);
        let (mean, var) = (param("running_mean")?, param("running_var")?);
        let scale = weight * (var + BN_EPS).rsqrt();
        let shift = bias - &mean * &scale;
        Ok(Self {
            scale: scale.view([1, c, 1, 1]).to_kind(kind),
            shift: shift.view([1, c, 1, 1]).to_kind(kind),
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x * &self.scale + &self.shift
    }
}

fn conv(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, stride: i64, padding: i64) -> Tensor {
    x.conv2d(
        weight,
        bias,
        [stride, stride],
        [padding, padding],
        [1, 1],
        1,
    )
}

/// One IR-SE bottleneck: BN → 3×3 conv → PReLU → strided 3×3 conv → BN → squeeze-excite, plus
/// a shortcut (strided sub-sampling, or a strided 1×1 conv and BN when the width changes).
struct Unit {
    bn_in: BatchNorm,
    conv1: Tensor,
    prelu: Tensor,
    conv2: Tensor,
    bn_out: BatchNorm,
    se_fc1: Tensor,
    se_fc2: Tensor,
    shortcut: Option<(Tensor, BatchNorm)>,
    stride: i64,
    /// Output channels.
    width: i64,
}

impl Unit {
    /// Unit `name` taking `c_in` channels; its width is read from its first convolution.
    fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        stride: i64,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let w = |n: &str, shape: &[i64]| -> Result<Tensor, TensorSetError> {
            Ok(take(t, &format!("{name}.{n}"), shape, device)?.to_kind(kind))
        };
        let conv1 = w("res_layer.1.weight", &[-1, c_in, 3, 3])?;
        let d = conv1.size()[0];
        let se_fc1 = w("res_layer.5.fc1.weight", &[-1, d, 1, 1])?;
        let reduced = se_fc1.size()[0];
        let shortcut = if t.contains(&format!("{name}.shortcut_layer.0.weight")) {
            Some((
                w("shortcut_layer.0.weight", &[d, c_in, 1, 1])?,
                BatchNorm::new(t, &format!("{name}.shortcut_layer.1"), d, device, kind)?,
            ))
        } else if d != c_in {
            return Err(TensorSetError::Architecture(format!(
                "{name} changes width {c_in} → {d} without a shortcut convolution"
            )));
        } else {
            None
        };
        Ok(Self {
            bn_in: BatchNorm::new(t, &format!("{name}.res_layer.0"), c_in, device, kind)?,
            conv1,
            prelu: w("res_layer.2.weight", &[d])?,
            conv2: w("res_layer.3.weight", &[d, d, 3, 3])?,
            bn_out: BatchNorm::new(t, &format!("{name}.res_layer.4"), d, device, kind)?,
            se_fc1,
            se_fc2: w("res_layer.5.fc2.weight", &[d, reduced, 1, 1])?,
            shortcut,
            stride,
            width: d,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let s = self.stride;
        let shortcut = match &self.shortcut {
            Some((weight, bn)) => bn.forward(&conv(x, weight, None, s, 0)),
            None if s == 1 => x.shallow_clone(),
            None => x.slice(2, 0, None, s).slice(3, 0, None, s),
        };
        let r = self.bn_in.forward(x);
        let r = conv(&r, &self.conv1, None, 1, 1).prelu(&self.prelu);
        let r = self.bn_out.forward(&conv(&r, &self.conv2, None, s, 1));
        let squeeze = r.mean_dim([2, 3].as_slice(), true, r.kind());
        let excite = conv(
            &conv(&squeeze, &self.se_fc1, None, 1, 0).relu(),
            &self.se_fc2,
            None,
            1,
            0,
        )
        .sigmoid();
        r * excite + shortcut
    }
}

/// The IR-SE50 body with its input layer; yields the three feature maps.
pub(super) struct Backbone {
    input_conv: Tensor,
    input_bn: BatchNorm,
    input_prelu: Tensor,
    units: Vec<Unit>,
}

/// Channels of the three feature maps.
#[derive(Debug, Clone, Copy)]
pub(super) struct FeatureWidths {
    pub(super) c1: i64,
    pub(super) c2: i64,
    pub(super) c3: i64,
}

/// Backbone features at 64×64, 32×32 and 16×16 (for a 256² input).
pub struct Features {
    pub c1: Tensor,
    pub c2: Tensor,
    pub c3: Tensor,
}

impl Backbone {
    pub(super) fn new(t: &TensorSet, device: Device, kind: Kind) -> Result<Self, TensorSetError> {
        let count = t.count_indexed("body");
        let expected: usize = IR_SE50_UNITS.iter().sum();
        if count != expected {
            return Err(TensorSetError::Architecture(format!(
                "an IR-SE backbone of {count} units; lifelapse reads IR-SE50 ({expected} units)"
            )));
        }
        let input_conv = take(t, "input_layer.0.weight", &[-1, -1, 3, 3], device)?;
        let mut width = input_conv.size()[0];
        let mut units: Vec<Unit> = Vec::with_capacity(count);
        for &n in &IR_SE50_UNITS {
            for i in 0..n {
                let stride = if i == 0 { 2 } else { 1 };
                let name = format!("body.{}", units.len());
                let unit = Unit::new(t, &name, width, stride, device, kind)?;
                width = unit.width;
                units.push(unit);
            }
        }
        Ok(Self {
            input_bn: BatchNorm::new(t, "input_layer.1", input_conv.size()[0], device, kind)?,
            input_prelu: take(t, "input_layer.2.weight", &[input_conv.size()[0]], device)?
                .to_kind(kind),
            input_conv: input_conv.to_kind(kind),
            units,
        })
    }

    /// Channels of the images it reads (3; ReStyle's encoders read 6).
    pub(super) fn input_channels(&self) -> i64 {
        self.input_conv.size()[1]
    }

    pub(super) fn feature_widths(&self) -> FeatureWidths {
        let [c1, c2, c3] = FEATURE_UNITS.map(|i| self.units.get(i).map_or(0, |u| u.width));
        FeatureWidths { c1, c2, c3 }
    }

    pub(super) fn forward(&self, x: &Tensor) -> Features {
        let mut x = self
            .input_bn
            .forward(&conv(x, &self.input_conv, None, 1, 1))
            .prelu(&self.input_prelu);
        let mut features = Vec::with_capacity(3);
        for (i, unit) in self.units.iter().enumerate() {
            x = unit.forward(&x);
            if FEATURE_UNITS.contains(&i) {
                features.push(x.shallow_clone());
            }
        }
        let c3 = features.pop().unwrap_or_else(|| x.shallow_clone());
        let c2 = features.pop().unwrap_or_else(|| x.shallow_clone());
        let c1 = features.pop().unwrap_or_else(|| x.shallow_clone());
        Features { c1, c2, c3 }
    }
}

/// "map2style": strided 3×3 convolutions with leaky ReLU down to 1×1, then a linear layer.
pub(super) struct StyleHead {
    convs: Vec<(Tensor, Tensor)>,
    linear_w: Tensor,
    linear_b: Tensor,
}

impl StyleHead {
    /// Head `name` reading `c_in` channels of a `side`×`side` feature map: one stride-2
    /// convolution per halving down to 1×1.
    pub(super) fn new(
        t: &TensorSet,
        name: &str,
        c_in: i64,
        side: i64,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let mut convs = Vec::new();
        let mut width = c_in;
        let mut i = 0;
        while t.contains(&format!("{name}.convs.{i}.weight")) {
            let weight = take(
                t,
                &format!("{name}.convs.{i}.weight"),
                &[-1, width, 3, 3],
                device,
            )?;
            width = weight.size()[0];
            let bias = take(t, &format!("{name}.convs.{i}.bias"), &[width], device)?;
            convs.push((weight.to_kind(kind), bias.to_kind(kind)));
            // Convolutions and activations alternate in the stored sequence.
            i += 2;
        }
        let halvings = side.max(1).ilog2() as usize;
        if convs.len() != halvings {
            return Err(TensorSetError::Architecture(format!(
                "{name} has {} convolutions; a {side}×{side} level needs {halvings}",
                convs.len()
            )));
        }
        let linear_w = take(t, &format!("{name}.linear.weight"), &[-1, width], device)?;
        let out = linear_w.size()[0];
        Ok(Self {
            convs,
            // Equalised learning rate (lr_mul 1): weight / √in at run time.
            linear_w: (linear_w / (width as f64).sqrt()).to_kind(kind),
            linear_b: take(t, &format!("{name}.linear.bias"), &[out], device)?.to_kind(kind),
        })
    }

    /// Width of the code it predicts.
    pub(super) fn out_width(&self) -> i64 {
        self.linear_b.size()[0]
    }

    pub(super) fn forward(&self, x: &Tensor) -> Tensor {
        let mut x = x.shallow_clone();
        for (weight, bias) in &self.convs {
            x = conv(&x, weight, Some(bias), 2, 1).leaky_relu();
        }
        let c = x.size()[1];
        x.view([-1, c]).linear(&self.linear_w, Some(&self.linear_b))
    }
}

/// The feature pyramid's lateral 1×1 convolutions and its up-sample-and-add.
pub(super) struct Pyramid {
    lateral1: (Tensor, Tensor),
    lateral2: (Tensor, Tensor),
}

impl Pyramid {
    /// Laterals that bring c2 and c1 to c3's width, so the levels can be added.
    pub(super) fn new(
        t: &TensorSet,
        widths: FeatureWidths,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        let pair = |n: &str, c_in: i64| -> Result<(Tensor, Tensor), TensorSetError> {
            Ok((
                take(t, &format!("{n}.weight"), &[widths.c3, c_in, 1, 1], device)?.to_kind(kind),
                take(t, &format!("{n}.bias"), &[widths.c3], device)?.to_kind(kind),
            ))
        };
        Ok(Self {
            lateral1: pair("latlayer1", widths.c2)?,
            lateral2: pair("latlayer2", widths.c1)?,
        })
    }

    fn upsample_add(x: &Tensor, y: &Tensor) -> Tensor {
        let size = y.size();
        x.upsample_bilinear2d([size[2], size[3]], true, None, None) + y
    }

    /// 32×32 level: c3 up-sampled plus the lateral of c2.
    pub(super) fn p2(&self, f: &Features) -> Tensor {
        let (w, b) = &self.lateral1;
        Self::upsample_add(&f.c3, &conv(&f.c2, w, Some(b), 1, 0))
    }

    /// 64×64 level: p2 up-sampled plus the lateral of c1.
    pub(super) fn p1(&self, p2: &Tensor, f: &Features) -> Tensor {
        let (w, b) = &self.lateral2;
        Self::upsample_add(p2, &conv(&f.c1, w, Some(b), 1, 0))
    }
}

/// What pSp and e4e share: the backbone, the pyramid and one head per W+ layer, read from
/// the encoder's tensors (names without the `encoder.` prefix).
pub(super) struct EncoderParts {
    pub(super) backbone: Backbone,
    pub(super) pyramid: Pyramid,
    pub(super) heads: Vec<StyleHead>,
    pub(super) device: Device,
    pub(super) kind: Kind,
}

impl EncoderParts {
    pub(super) fn new(t: &TensorSet, device: Device, kind: Kind) -> Result<Self, TensorSetError> {
        let backbone = Backbone::new(t, device, kind)?;
        if backbone.input_channels() != 3 {
            return Err(TensorSetError::Architecture(format!(
                "an encoder reading {} channels; pSp and e4e read RGB",
                backbone.input_channels()
            )));
        }
        let widths = backbone.feature_widths();
        let n_styles = t.count_indexed("styles");
        // Coarse heads read the 16×16 level, middle ones 32×32, fine ones 64×64.
        let side = |i: usize| match i {
            i if i < COARSE => 16,
            i if i < MIDDLE => 32,
            _ => 64,
        };
        let heads = (0..n_styles)
            .map(|i| StyleHead::new(t, &format!("styles.{i}"), widths.c3, side(i), device, kind))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = heads.first() else {
            return Err(TensorSetError::Missing("styles.0".into()));
        };
        if let Some(i) = heads
            .iter()
            .position(|h| h.out_width() != first.out_width())
        {
            return Err(TensorSetError::Architecture(format!(
                "head styles.{i} predicts {} values, styles.0 {}",
                heads[i].out_width(),
                first.out_width()
            )));
        }
        Ok(Self {
            pyramid: Pyramid::new(t, widths, device, kind)?,
            backbone,
            heads,
            device,
            kind,
        })
    }

    /// Width of each W+ code the heads predict.
    pub(super) fn code_width(&self) -> i64 {
        self.heads.first().map_or(0, StyleHead::out_width)
    }

    /// The backbone's features of images moved to the encoder's device and precision.
    pub(super) fn features(&self, x: &Tensor) -> Features {
        self.backbone
            .forward(&x.to_device(self.device).to_kind(self.kind))
    }
}

/// pSp's GradualStyleEncoder: 256² images normalised to −1…1 → W+ offsets [N, n_styles, 512].
pub struct PspEncoder(EncoderParts);

impl PspEncoder {
    /// From the encoder's tensors (names without the `encoder.` prefix).
    pub fn new(t: &TensorSet, device: Device, kind: Kind) -> Result<Self, TensorSetError> {
        EncoderParts::new(t, device, kind).map(Self)
    }

    pub fn n_styles(&self) -> usize {
        self.0.heads.len()
    }

    /// Width of each W+ code it predicts.
    pub fn code_width(&self) -> i64 {
        self.0.code_width()
    }

    pub fn features(&self, x: &Tensor) -> Features {
        self.0.features(x)
    }

    /// The W+ offsets (before the average latent is added).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let parts = &self.0;
        let f = parts.features(x);
        let p2 = parts.pyramid.p2(&f);
        let p1 = parts.pyramid.p1(&p2, &f);
        let codes: Vec<Tensor> = parts
            .heads
            .iter()
            .enumerate()
            .map(|(i, head)| match i {
                i if i < COARSE => head.forward(&f.c3),
                i if i < MIDDLE => head.forward(&p2),
                _ => head.forward(&p1),
            })
            .collect();
        Tensor::stack(&codes, 1)
    }
}

/// Encoder weights drawn at random, named as a checkpoint names them (for benchmarks: the cost
/// of an encode does not depend on the values). `widths` are the four IR-SE50 stage widths
/// (published: 64, 128, 256, 512), `style_width` the heads' width (published: 512).
pub fn random_weights(widths: [i64; 4], style_width: i64, n_styles: usize, seed: i64) -> TensorSet {
    let convs = |i: usize| match i {
        i if i < COARSE => 4,
        i if i < MIDDLE => 5,
        _ => 6,
    };
    let mut t = random_backbone_and_heads(widths, style_width, n_styles, 3, convs, seed);
    let opts = (Kind::Float, Device::Cpu);
    let lateral = |c_in: i64| Tensor::randn([style_width, c_in, 1, 1], opts) / (c_in as f64).sqrt();
    t.insert("latlayer1.weight", lateral(widths[2]));
    t.insert("latlayer1.bias", Tensor::zeros([style_width], opts));
    t.insert("latlayer2.weight", lateral(widths[1]));
    t.insert("latlayer2.bias", Tensor::zeros([style_width], opts));
    t
}

/// The backbone (reading `input_channels`) and `n_styles` heads of `head_convs(i)` stride-2
/// convolutions each, drawn at random; shared by pSp's and ReStyle's benchmark weights.
pub(super) fn random_backbone_and_heads(
    widths: [i64; 4],
    style_width: i64,
    n_styles: usize,
    input_channels: i64,
    head_convs: impl Fn(usize) -> usize,
    seed: i64,
) -> TensorSet {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let mut t = TensorSet::default();
    let bn = |t: &mut TensorSet, name: &str, c: i64| {
        t.insert(format!("{name}.weight"), Tensor::ones([c], opts));
        t.insert(format!("{name}.bias"), Tensor::zeros([c], opts));
        t.insert(format!("{name}.running_mean"), Tensor::zeros([c], opts));
        t.insert(format!("{name}.running_var"), Tensor::ones([c], opts));
    };
    let conv_w = |c_out: i64, c_in: i64, k: i64| {
        Tensor::randn([c_out, c_in, k, k], opts) * (1.0 / ((c_in * k * k) as f64).sqrt())
    };
    t.insert("input_layer.0.weight", conv_w(widths[0], input_channels, 3));
    bn(&mut t, "input_layer.1", widths[0]);
    t.insert(
        "input_layer.2.weight",
        Tensor::full([widths[0]], 0.25, opts),
    );
    let mut unit = 0;
    let mut c_in = widths[0];
    for (stage, &n) in IR_SE50_UNITS.iter().enumerate() {
        let depth = widths[stage];
        for _ in 0..n {
            let name = format!("body.{unit}");
            if c_in != depth {
                t.insert(
                    format!("{name}.shortcut_layer.0.weight"),
                    conv_w(depth, c_in, 1),
                );
                bn(&mut t, &format!("{name}.shortcut_layer.1"), depth);
            }
            bn(&mut t, &format!("{name}.res_layer.0"), c_in);
            t.insert(format!("{name}.res_layer.1.weight"), conv_w(depth, c_in, 3));
            t.insert(
                format!("{name}.res_layer.2.weight"),
                Tensor::full([depth], 0.25, opts),
            );
            t.insert(
                format!("{name}.res_layer.3.weight"),
                conv_w(depth, depth, 3),
            );
            bn(&mut t, &format!("{name}.res_layer.4"), depth);
            let hidden = (depth / 16).max(1);
            t.insert(
                format!("{name}.res_layer.5.fc1.weight"),
                conv_w(hidden, depth, 1),
            );
            t.insert(
                format!("{name}.res_layer.5.fc2.weight"),
                conv_w(depth, hidden, 1),
            );
            c_in = depth;
            unit += 1;
        }
    }
    for i in 0..n_styles {
        for j in 0..head_convs(i) {
            t.insert(
                format!("styles.{i}.convs.{}.weight", 2 * j),
                conv_w(style_width, style_width, 3),
            );
            t.insert(
                format!("styles.{i}.convs.{}.bias", 2 * j),
                Tensor::zeros([style_width], opts),
            );
        }
        t.insert(
            format!("styles.{i}.linear.weight"),
            Tensor::randn([style_width, style_width], opts),
        );
        t.insert(
            format!("styles.{i}.linear.bias"),
            Tensor::zeros([style_width], opts),
        );
    }
    t
}

/// The encoder's input: an image resized to 256² and scaled to −1…1, as [3, 256, 256].
pub fn encoder_input(image: &image::RgbImage) -> Tensor {
    let sized = if image.dimensions() == (256, 256) {
        image.clone()
    } else {
        crate::leaves::resize::crop_resize(
            image,
            (0.0, 0.0, image.width() as f64, image.height() as f64),
            256,
            256,
        )
    };
    crate::nets::tensor_from_rgb(&sized) * 2.0 - 1.0
}
