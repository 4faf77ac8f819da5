//! Age (and gender) from a face: face-api's `AgeGenderNet`, a small Xception (Chollet 2017,
//! <https://arxiv.org/abs/1610.02357>) on a 112² face chip with two dense heads. Its published
//! age error is ~4.5 years overall, ~1.5 for ages 0–3 and ~10 past 80. Tensor names are those of
//! the weights manifest.

use super::layers::{max_pool_same, normalize, Conv, SeparableConv};
use tch::nn::{Init, Path};
use tch::{Device, Tensor};

#[derive(Debug, Clone)]
pub struct Config {
    pub input_size: i64,
    pub mean_rgb: [f64; 3],
    /// Residual blocks in the middle flow.
    pub main_blocks: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            input_size: 112,
            mean_rgb: [122.782, 117.001, 104.298],
            main_blocks: 2,
        }
    }
}

/// Two separable convolutions, a strided max-pool, plus a strided 1×1 "expansion" shortcut.
struct ReductionBlock {
    sep0: SeparableConv,
    sep1: SeparableConv,
    expansion: Conv,
}

impl ReductionBlock {
    fn new(p: &Path, c_in: i64, c_out: i64) -> Self {
        Self {
            sep0: SeparableConv::new(&(p / "separable_conv0"), c_in, c_out),
            sep1: SeparableConv::new(&(p / "separable_conv1"), c_out, c_out),
            expansion: Conv::new(&(p / "expansion_conv"), c_in, c_out, 1),
        }
    }

    fn forward(&self, x: &Tensor, activate_input: bool) -> Tensor {
        let input = if activate_input {
            x.relu()
        } else {
            x.shallow_clone()
        };
        let out = self.sep1.forward(&self.sep0.forward(&input, 1).relu(), 1);
        max_pool_same(&out, 3, 2) + self.expansion.forward(x, 2)
    }
}

/// Three separable convolutions around an identity shortcut.
struct MainBlock {
    convs: [SeparableConv; 3],
}

impl MainBlock {
    fn new(p: &Path, c: i64) -> Self {
        Self {
            convs: [0, 1, 2].map(|i| SeparableConv::new(&(p / format!("separable_conv{i}")), c, c)),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut out = x.shallow_clone();
        for conv in &self.convs {
            out = conv.forward(&out.relu(), 1);
        }
        out + x
    }
}

struct Dense {
    weights: Tensor,
    bias: Tensor,
}

impl Dense {
    fn new(p: &Path, c_in: i64, c_out: i64) -> Self {
        Self {
            weights: p.var("weights", &[c_out, c_in], Init::Const(0.0)),
            bias: p.var("bias", &[c_out], Init::Const(0.0)),
        }
    }
}

pub struct AgeGenderNet {
    config: Config,
    conv_in: Conv,
    reduction0: ReductionBlock,
    reduction1: ReductionBlock,
    middle: Vec<MainBlock>,
    exit_reduction: ReductionBlock,
    exit_conv: SeparableConv,
    age: Dense,
    gender: Dense,
}

/// The safetensors file in `models/`.
pub const WEIGHTS_FILE: &str = "age_gender.safetensors";

impl AgeGenderNet {
    pub fn new(p: &Path, config: Config) -> Self {
        let entry = p / "entry_flow";
        let exit = p / "exit_flow";
        let middle = p / "middle_flow";
        Self {
            conv_in: Conv::new(&(&entry / "conv_in"), 3, 32, 3),
            reduction0: ReductionBlock::new(&(&entry / "reduction_block_0"), 32, 64),
            reduction1: ReductionBlock::new(&(&entry / "reduction_block_1"), 64, 128),
            middle: (0..config.main_blocks)
                .map(|i| MainBlock::new(&(&middle / format!("main_block_{i}")), 128))
                .collect(),
            exit_reduction: ReductionBlock::new(&(&exit / "reduction_block"), 128, 256),
            exit_conv: SeparableConv::new(&(&exit / "separable_conv"), 256, 512),
            age: Dense::new(&(p / "fc" / "age"), 512, 1),
            gender: Dense::new(&(p / "fc" / "gender"), 512, 2),
            config,
        }
    }

    /// `images`: [N, 3, 112, 112] RGB in 0–255. Returns ages in years [N] and gender logits
    /// [N, 2] (male, female).
    pub fn forward(&self, images: &Tensor) -> (Tensor, Tensor) {
        let _span = tracing::trace_span!("age_gender").entered();
        let x = normalize(images, &self.config.mean_rgb, self.conv_in.device());
        let mut x = self.conv_in.forward(&x, 2).relu();
        x = self.reduction0.forward(&x, false);
        x = self.reduction1.forward(&x, true);
        for block in &self.middle {
            x = block.forward(&x);
        }
        x = self.exit_reduction.forward(&x, true);
        let x = self.exit_conv.forward(&x, 1).relu();
        let pooled = x
            .avg_pool2d([7, 7], [2, 2], [0, 0], false, true, None::<i64>)
            .flatten(1, -1);
        let age = pooled
            .linear(&self.age.weights, Some(&self.age.bias))
            .squeeze_dim(1);
        let gender = pooled.linear(&self.gender.weights, Some(&self.gender.bias));
        (age, gender)
    }

    pub fn input_size(&self) -> i64 {
        self.config.input_size
    }
}

/// Loads the shipped network onto `device`.
pub fn load(
    device: Device,
) -> Result<(tch::nn::VarStore, AgeGenderNet), super::weights::WeightsError> {
    super::weights::load_net(device, WEIGHTS_FILE, |p| {
        AgeGenderNet::new(p, Config::default())
    })
}
