//! Identity descriptor: face-api's `FaceRecognitionNet`, dlib's metric-learning ResNet
//! (He et al. 2016, <https://arxiv.org/abs/1512.03385>; King, dlib `dnn_face_recognition`)
//! mapping a 150² face chip to 128 numbers; the same person lies within ~0.6 (Euclidean).
//! Tensor names are those of the weights manifest.

use tch::nn::{Init, Path};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone)]
pub struct Config {
    pub input_size: i64,
    pub mean_rgb: [f64; 3],
    pub descriptor_len: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            input_size: 150,
            mean_rgb: [122.782, 117.001, 104.298],
            descriptor_len: 128,
        }
    }
}

/// Convolution + bias, then a learned per-channel affine ("scale") layer, as dlib stores them.
struct ConvLayer {
    filters: Tensor,
    bias: Tensor,
    scale_weights: Tensor,
    scale_biases: Tensor,
}

impl ConvLayer {
    fn new(p: &Path, c_in: i64, c_out: i64, k: i64) -> Self {
        let conv = p / "conv";
        let scale = p / "scale";
        Self {
            filters: conv.var("filters", &[c_out, c_in, k, k], Init::Const(0.0)),
            bias: conv.var("bias", &[c_out], Init::Const(0.0)),
            scale_weights: scale.var("weights", &[c_out], Init::Const(0.0)),
            scale_biases: scale.var("biases", &[c_out], Init::Const(0.0)),
        }
    }

    /// Stride 1 with TF "same" padding, or stride 2 with "valid" padding (downsampling).
    fn forward(&self, x: &Tensor, down: bool) -> Tensor {
        let out = if down {
            x.conv2d(&self.filters, Some(&self.bias), [2, 2], [0, 0], [1, 1], 1)
        } else {
            super::layers::conv2d_same(x, &self.filters, Some(&self.bias), 1)
        };
        out * self.scale_weights.view([1, -1, 1, 1]) + self.scale_biases.view([1, -1, 1, 1])
    }
}

struct Residual {
    conv1: ConvLayer,
    conv2: ConvLayer,
    down: bool,
}

impl Residual {
    fn new(p: &Path, c_in: i64, c_out: i64, down: bool) -> Self {
        Self {
            conv1: ConvLayer::new(&(p / "conv1"), c_in, c_out, 3),
            conv2: ConvLayer::new(&(p / "conv2"), c_out, c_out, 3),
            down,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let out = self
            .conv2
            .forward(&self.conv1.forward(x, self.down).relu(), false);
        if !self.down {
            return (out + x).relu();
        }
        // The shortcut: 2×2 average pooling, zero channels appended when the width doubles;
        // where pooling keeps a row or column more than the strided convolution, the
        // convolution's output gets zeros at the bottom/right.
        let mut pooled = x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        let (p, o) = (pooled.size(), out.size());
        let out = out.constant_pad_nd([0, p[3] - o[3], 0, p[2] - o[2]]);
        if p[1] != o[1] {
            pooled = pooled.constant_pad_nd([0, 0, 0, 0, 0, o[1] - p[1]]);
        }
        (pooled + out).relu()
    }
}

pub struct FaceRecognitionNet {
    config: Config,
    stem: ConvLayer,
    stages: Vec<Residual>,
    fc: Tensor,
}

/// The safetensors file in `models/`.
pub const WEIGHTS_FILE: &str = "face_recognition.safetensors";

impl FaceRecognitionNet {
    pub fn new(p: &Path, config: Config) -> Self {
        // (name, in, out, downsampling) in the order of the original forward pass.
        let layout: [(&str, i64, i64, bool); 14] = [
            ("conv32_1", 32, 32, false),
            ("conv32_2", 32, 32, false),
            ("conv32_3", 32, 32, false),
            ("conv64_down", 32, 64, true),
            ("conv64_1", 64, 64, false),
            ("conv64_2", 64, 64, false),
            ("conv64_3", 64, 64, false),
            ("conv128_down", 64, 128, true),
            ("conv128_1", 128, 128, false),
            ("conv128_2", 128, 128, false),
            ("conv256_down", 128, 256, true),
            ("conv256_1", 256, 256, false),
            ("conv256_2", 256, 256, false),
            ("conv256_down_out", 256, 256, true),
        ];
        Self {
            stem: ConvLayer::new(&(p / "conv32_down"), 3, 32, 7),
            stages: layout
                .iter()
                .map(|&(name, i, o, d)| Residual::new(&(p / name), i, o, d))
                .collect(),
            fc: p.var("fc", &[config.descriptor_len, 256], Init::Const(0.0)),
            config,
        }
    }

    /// `images`: [N, 3, 150, 150] RGB in 0–255. Returns [N, 128] descriptors.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let _span = tracing::trace_span!("face_descriptor").entered();
        let x = super::layers::normalize(images, &self.config.mean_rgb, self.fc.device());
        let mut x =
            self.stem
                .forward(&x, true)
                .relu()
                .max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false);
        for stage in &self.stages {
            x = stage.forward(&x);
        }
        x.mean_dim([2, 3].as_slice(), false, Kind::Float)
            .matmul(&self.fc.tr())
    }

    pub fn input_size(&self) -> i64 {
        self.config.input_size
    }
}

/// Loads the shipped network onto `device`.
pub fn load(
    device: Device,
) -> Result<(tch::nn::VarStore, FaceRecognitionNet), super::weights::WeightsError> {
    super::weights::load_net(device, WEIGHTS_FILE, |p| {
        FaceRecognitionNet::new(p, Config::default())
    })
}
