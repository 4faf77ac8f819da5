//! One face generator, whichever family its checkpoint holds: StyleGAN2 (rosinality's tensor
//! names) or StyleGAN3 (NVIDIA's). The rest of lifelapse asks for W+ codes, images and sizes
//! and never needs to know which.

use super::stylegan2;
use super::stylegan3;
use super::tensor_set::{TensorSet, TensorSetError};
use serde::{Deserialize, Serialize};
use std::fmt;
use tch::{Device, Kind, Tensor};

/// The generator families lifelapse runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Stylegan2,
    Stylegan3,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Stylegan2 => "stylegan2",
            Family::Stylegan3 => "stylegan3",
        })
    }
}

/// The shape of a generator of either family.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Stylegan2(stylegan2::GeneratorConfig),
    Stylegan3(stylegan3::GeneratorConfig),
}

impl Shape {
    /// Reads the shape from a generator's tensors; the family shows in the names (StyleGAN3's
    /// Fourier-feature input, StyleGAN2's `style.*` mapping). `options` may carry what the
    /// weights do not: `lr_mlp` (StyleGAN2) or the constructor's `init_kwargs` (StyleGAN3).
    pub fn from_tensors(
        t: &TensorSet,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, TensorSetError> {
        if t.contains("synthesis.input.freqs") {
            let design = options
                .get("init_kwargs")
                .and_then(|v| v.as_object())
                .map(stylegan3::Design::from_init_kwargs)
                .unwrap_or_default();
            return stylegan3::GeneratorConfig::from_tensors(t, design).map(Shape::Stylegan3);
        }
        let lr_mlp = options
            .get("lr_mlp")
            .and_then(|v| v.as_f64())
            .unwrap_or(stylegan2::DEFAULT_LR_MLP);
        stylegan2::GeneratorConfig::from_tensors(t, lr_mlp).map(Shape::Stylegan2)
    }

    pub fn family(&self) -> Family {
        match self {
            Shape::Stylegan2(_) => Family::Stylegan2,
            Shape::Stylegan3(_) => Family::Stylegan3,
        }
    }

    /// Output side in pixels.
    pub fn resolution(&self) -> i64 {
        match self {
            Shape::Stylegan2(c) => c.size,
            Shape::Stylegan3(c) => c.resolution,
        }
    }

    /// Rows of a W+ code.
    pub fn n_latent(&self) -> usize {
        match self {
            Shape::Stylegan2(c) => c.n_latent(),
            Shape::Stylegan3(c) => c.num_ws(),
        }
    }

    /// Width of w.
    pub fn style_dim(&self) -> i64 {
        match self {
            Shape::Stylegan2(c) => c.style_dim,
            Shape::Stylegan3(c) => c.w_dim,
        }
    }

    /// Width of z.
    pub fn z_dim(&self) -> i64 {
        match self {
            Shape::Stylegan2(c) => c.style_dim,
            Shape::Stylegan3(c) => c.z_dim,
        }
    }

    pub fn stylegan2(&self) -> Option<&stylegan2::GeneratorConfig> {
        match self {
            Shape::Stylegan2(c) => Some(c),
            Shape::Stylegan3(_) => None,
        }
    }
}

/// A generator of either family, ready on one device in one precision.
pub struct Generator {
    shape: Shape,
    net: Net,
}

enum Net {
    Stylegan2(Box<stylegan2::Generator>),
    Stylegan3(Box<stylegan3::Generator>),
}

impl Generator {
    /// The generator of `shape`, with its fused CUDA kernels where they load.
    pub fn new(
        t: &TensorSet,
        shape: &Shape,
        device: Device,
        kind: Kind,
    ) -> Result<Self, TensorSetError> {
        Self::with_kernels(t, shape, device, kind, true)
    }

    /// [`Generator::new`], the fused kernels asked for or not (a benchmark compares the two).
    pub fn with_kernels(
        t: &TensorSet,
        shape: &Shape,
        device: Device,
        kind: Kind,
        fused: bool,
    ) -> Result<Self, TensorSetError> {
        let net = match shape {
            Shape::Stylegan2(c) => {
                let options = stylegan2::RunOptions {
                    fused_epilogue: fused,
                    ..stylegan2::RunOptions::default()
                };
                Net::Stylegan2(Box::new(stylegan2::Generator::with_options(
                    t, c, device, kind, options,
                )?))
            }
            Shape::Stylegan3(c) => Net::Stylegan3(Box::new(stylegan3::Generator::with_kernels(
                t, c, device, kind, fused,
            )?)),
        };
        Ok(Self {
            shape: shape.clone(),
            net,
        })
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    pub fn resolution(&self) -> i64 {
        self.shape.resolution()
    }

    pub fn n_latent(&self) -> usize {
        self.shape.n_latent()
    }

    /// z [N, z_dim] → w [N, w_dim].
    pub fn mapping(&self, z: &Tensor) -> Tensor {
        match &self.net {
            Net::Stylegan2(g) => g.mapping(z),
            Net::Stylegan3(g) => g.mapping(z),
        }
    }

    /// The same w on every row: [N, w_dim] → W+ [N, n_latent, w_dim].
    pub fn w_plus(&self, w: &Tensor) -> Tensor {
        w.unsqueeze(1).repeat([1, self.n_latent() as i64, 1])
    }

    /// W+ [N, n_latent, w_dim] → images [N, 3, H, W], raw (about −1…1, not clamped).
    pub fn synthesis(&self, w_plus: &Tensor) -> Tensor {
        match &self.net {
            Net::Stylegan2(g) => g.synthesis(w_plus),
            Net::Stylegan3(g) => g.synthesis(w_plus),
        }
    }

    /// Whether synthesis runs the family's fused CUDA kernels.
    pub fn uses_fused_kernels(&self) -> bool {
        match &self.net {
            Net::Stylegan2(g) => g.uses_fused_kernels(),
            Net::Stylegan3(g) => g.uses_fused_kernels(),
        }
    }

    /// The StyleGAN3 network itself (for what only it has: input transforms, its profile).
    pub fn stylegan3(&self) -> Option<&stylegan3::Generator> {
        match &self.net {
            Net::Stylegan3(g) => Some(g),
            Net::Stylegan2(_) => None,
        }
    }
}
