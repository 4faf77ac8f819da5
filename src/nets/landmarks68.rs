//! 68-point face landmarks: face-api's `FaceLandmark68Net`, four densely connected blocks of
//! depthwise-separable convolutions (after DenseNet, Huang et al. 2017,
//! <https://arxiv.org/abs/1608.06993>) on a 112² crop, then a dense layer of 136 = 68 × (x, y).
//! Tensor names are those of the package's weights manifest.

use super::layers::{normalize, Conv, SeparableConv};
use tch::nn::{Init, Path};
use tch::{Device, Tensor};

/// The published network's fixed shape.
#[derive(Debug, Clone)]
pub struct Config {
    /// Side of the square input crop.
    pub input_size: i64,
    /// Per-channel means subtracted before dividing by 255.
    pub mean_rgb: [f64; 3],
    /// Channels of the four dense blocks.
    pub block_channels: [i64; 4],
}

impl Default for Config {
    fn default() -> Self {
        Self {
            input_size: 112,
            mean_rgb: [122.782, 117.001, 104.298],
            block_channels: [32, 64, 128, 256],
        }
    }
}

/// The first layer of a dense block: a plain convolution on the RGB input, separable after.
enum EntryConv {
    Plain(Conv),
    Separable(SeparableConv),
}

/// Four convolutions, each fed the sum of all earlier outputs of the block.
struct DenseBlock4 {
    conv0: EntryConv,
    convs: [SeparableConv; 3],
}

impl DenseBlock4 {
    fn new(p: &Path, c_in: i64, c_out: i64, first: bool) -> Self {
        let p0 = p / "conv0";
        let conv0 = if first {
            EntryConv::Plain(Conv::new(&p0, c_in, c_out, 3))
        } else {
            EntryConv::Separable(SeparableConv::new(&p0, c_in, c_out))
        };
        let convs = [1, 2, 3].map(|i| SeparableConv::new(&(p / format!("conv{i}")), c_out, c_out));
        Self { conv0, convs }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let out1 = match &self.conv0 {
            EntryConv::Plain(conv) => conv.forward(x, 2),
            EntryConv::Separable(conv) => conv.forward(x, 2),
        }
        .relu();
        let out2 = self.convs[0].forward(&out1, 1);
        let out3 = self.convs[1].forward(&(&out1 + &out2).relu(), 1);
        let out4 = self.convs[2].forward(&(&out1 + &out2 + &out3).relu(), 1);
        (out1 + out2 + out3 + out4).relu()
    }
}

pub struct FaceLandmark68Net {
    config: Config,
    blocks: Vec<DenseBlock4>,
    fc_weights: Tensor,
    fc_bias: Tensor,
}

/// The safetensors file in `models/`.
pub const WEIGHTS_FILE: &str = "face_landmark_68.safetensors";

impl FaceLandmark68Net {
    pub fn new(p: &Path, config: Config) -> Self {
        let mut blocks = Vec::new();
        let mut c_in = 3;
        for (i, &c_out) in config.block_channels.iter().enumerate() {
            blocks.push(DenseBlock4::new(
                &(p / format!("dense{i}")),
                c_in,
                c_out,
                i == 0,
            ));
            c_in = c_out;
        }
        let fc = p / "fc";
        Self {
            fc_weights: fc.var("weights", &[136, c_in], Init::Const(0.0)),
            fc_bias: fc.var("bias", &[136], Init::Const(0.0)),
            blocks,
            config,
        }
    }

    /// `images`: [N, 3, 112, 112] RGB in 0–255. Returns [N, 136]: x, y pairs in 0–1 of the crop.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let _span = tracing::trace_span!("landmarks68").entered();
        let mut x = normalize(images, &self.config.mean_rgb, self.fc_weights.device());
        for block in &self.blocks {
            x = block.forward(&x);
        }
        // 7 × 7 average over the final 7² map, as the original's "valid" pooling does.
        let x = x
            .avg_pool2d([7, 7], [2, 2], [0, 0], false, true, None::<i64>)
            .flatten(1, -1);
        x.linear(&self.fc_weights, Some(&self.fc_bias))
    }

    pub fn input_size(&self) -> i64 {
        self.config.input_size
    }
}

/// Loads the shipped network onto `device`.
pub fn load(
    device: Device,
) -> Result<(tch::nn::VarStore, FaceLandmark68Net), super::weights::WeightsError> {
    super::weights::load_net(device, WEIGHTS_FILE, |p| {
        FaceLandmark68Net::new(p, Config::default())
    })
}
