//! Face detector: face-api's `TinyFaceDetector`, a Tiny-YOLOv2-style network (Redmon & Farhadi
//! 2016, <https://arxiv.org/abs/1612.08242>) built from depthwise-separable convolutions, with
//! five anchor boxes per cell of a 32-pixel grid. Tensor names are those of the weights manifest.

use super::layers::{max_pool_same, normalize};
use tch::nn::{Init, Path};
use tch::{Device, Tensor};

#[derive(Debug, Clone)]
pub struct Config {
    /// Per-channel means subtracted before dividing by 255.
    pub mean_rgb: [f64; 3],
    /// Output channels of conv0 … conv5.
    pub channels: [i64; 6],
    /// Anchor box sizes (width, height) in grid cells.
    pub anchors: [(f64, f64); 5],
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mean_rgb: [117.001, 114.697, 97.404],
            channels: [16, 32, 64, 128, 256, 512],
            anchors: [
                (1.603231, 2.094468),
                (6.041143, 7.080126),
                (2.882459, 3.518061),
                (4.266906, 5.178857),
                (9.041765, 10.66308),
            ],
        }
    }
}

/// The value of TensorFlow's `leaky` activation used by this network: slope 0.1 below zero.
fn leaky(x: &Tensor) -> Tensor {
    x.maximum(&(x * 0.1))
}

struct SeparableConv {
    depthwise: Tensor,
    pointwise: Tensor,
    bias: Tensor,
}

impl SeparableConv {
    fn new(p: &Path, c_in: i64, c_out: i64) -> Self {
        Self {
            depthwise: p.var("depthwise_filter", &[c_in, 1, 3, 3], Init::Const(0.0)),
            pointwise: p.var("pointwise_filter", &[c_out, c_in, 1, 1], Init::Const(0.0)),
            bias: p.var("bias", &[c_out], Init::Const(0.0)),
        }
    }

    /// Pads one pixel each side, then a valid separable convolution, then leaky.
    fn forward(&self, x: &Tensor) -> Tensor {
        let channels = self.depthwise.size()[0];
        let out = x
            .constant_pad_nd([1, 1, 1, 1])
            .conv2d(
                &self.depthwise,
                None::<&Tensor>,
                [1, 1],
                [0, 0],
                [1, 1],
                channels,
            )
            .conv2d(&self.pointwise, Some(&self.bias), [1, 1], [0, 0], [1, 1], 1);
        leaky(&out)
    }
}

pub struct TinyFaceDetector {
    config: Config,
    conv0_filters: Tensor,
    conv0_bias: Tensor,
    separable: Vec<SeparableConv>,
    conv8_filters: Tensor,
    conv8_bias: Tensor,
}

/// The safetensors file in `models/`.
pub const WEIGHTS_FILE: &str = "tiny_face_detector.safetensors";

impl TinyFaceDetector {
    pub fn new(p: &Path, config: Config) -> Self {
        let c = config.channels;
        let separable = (1..6)
            .map(|i| SeparableConv::new(&(p / format!("conv{i}")), c[i - 1], c[i]))
            .collect();
        let boxes = 5 * config.anchors.len() as i64;
        Self {
            conv0_filters: (p / "conv0").var("filters", &[c[0], 3, 3, 3], Init::Const(0.0)),
            conv0_bias: (p / "conv0").var("bias", &[c[0]], Init::Const(0.0)),
            separable,
            conv8_filters: (p / "conv8").var("filters", &[boxes, c[5], 1, 1], Init::Const(0.0)),
            conv8_bias: (p / "conv8").var("bias", &[boxes], Init::Const(0.0)),
            config,
        }
    }

    /// `images`: [N, 3, S, S] RGB in 0–255, S a multiple of 32. Returns the raw grid
    /// [N, 5 × anchors, S/32, S/32]: per anchor x, y, w, h, score logits.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let _span = tracing::trace_span!("tiny_face_detector").entered();
        let x = normalize(images, &self.config.mean_rgb, self.conv0_filters.device());
        let mut x = leaky(&x.conv2d(
            &self.conv0_filters,
            Some(&self.conv0_bias),
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ));
        for (i, conv) in self.separable.iter().enumerate() {
            x = max_pool_same(&x, 2, 2);
            x = conv.forward(&x);
            if i == self.separable.len() - 1 {
                x = max_pool_same(&x, 2, 1);
            }
        }
        x.conv2d(
            &self.conv8_filters,
            Some(&self.conv8_bias),
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )
    }

    pub fn anchors(&self) -> &[(f64, f64)] {
        &self.config.anchors
    }
}

/// Loads the shipped network onto `device`.
pub fn load(
    device: Device,
) -> Result<(tch::nn::VarStore, TinyFaceDetector), super::weights::WeightsError> {
    super::weights::load_net(device, WEIGHTS_FILE, |p| {
        TinyFaceDetector::new(p, Config::default())
    })
}
