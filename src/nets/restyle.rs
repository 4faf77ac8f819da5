//! ReStyle's pSp encoder (Alaluf et al. 2021, "ReStyle: A Residual-Based StyleGAN Encoder via
//! Iterative Refinement", <https://arxiv.org/abs/2104.02699>): the encoder sees the photo next
//! to the generator's current reconstruction of it (6 channels) and predicts a residual that is
//! added to the current code; a few rounds of this, starting from the average face, converge on
//! a code closer to the photo than one pass can reach.
//!
//! The network is pSp's IR-SE50 backbone without the pyramid: one "map2style" head per W+ row,
//! all reading the last (16×16) features. Tensor names are those of the published checkpoints
//! (`encoder.*`), for StyleGAN2 and StyleGAN3 decoders alike.

use super::generative::Generator;
use super::psp::{Backbone, Features, StyleHead};
use super::tensor_set::{TensorSet, TensorSetError};
use tch::{Device, Kind, Tensor};

/// Side of the images the encoder reads.
pub const INPUT_SIDE: i64 = 256;

/// ReStyle's `BackboneEncoder`: [photo, reconstruction] [N, 6, 256, 256] in −1…1 → residual
/// W+ codes [N, n_styles, width].
pub struct RestyleEncoder {
    backbone: Backbone,
    heads: Vec<StyleHead>,
    device: Device,
    kind: Kind,
}

impl RestyleEncoder {
    /// From the encoder's tensors (names without the `encoder.` prefix).
    pub fn new(t: &TensorSet, device: Device, kind: Kind) -> Result<Self, TensorSetError> {
        let backbone = Backbone::new(t, device, kind)?;
        if backbone.input_channels() != 6 {
            return Err(TensorSetError::Architecture(format!(
                "a ReStyle encoder reading {} channels; it reads a photo and a reconstruction (6)",
                backbone.input_channels()
            )));
        }
        let c3 = backbone.feature_widths().c3;
        let heads = (0..t.count_indexed("styles"))
            .map(|i| StyleHead::new(t, &format!("styles.{i}"), c3, 16, device, kind))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(first) = heads.first() else {
            return Err(TensorSetError::Missing("styles.0".into()));
        };
        if heads.iter().any(|h| h.out_width() != first.out_width()) {
            return Err(TensorSetError::Architecture(
                "the style heads predict codes of different widths".into(),
            ));
        }
        Ok(Self {
            backbone,
            heads,
            device,
            kind,
        })
    }

    pub fn n_styles(&self) -> usize {
        self.heads.len()
    }

    /// Width of each W+ code it predicts.
    pub fn code_width(&self) -> i64 {
        self.heads.first().map_or(0, StyleHead::out_width)
    }

    pub fn features(&self, x: &Tensor) -> Features {
        self.backbone
            .forward(&x.to_device(self.device).to_kind(self.kind))
    }

    /// The residual codes for one round.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let f = self.features(x);
        let codes: Vec<Tensor> = self.heads.iter().map(|h| h.forward(&f.c3)).collect();
        Tensor::stack(&codes, 1)
    }
}

/// One round of the refinement, as a trace sees it.
pub struct Round<'a> {
    /// 0-based.
    pub index: usize,
    /// What the encoder read: [photo, previous reconstruction at 256²].
    pub input: &'a Tensor,
    pub residual: &'a Tensor,
    /// The code after this round.
    pub codes: &'a Tensor,
    /// The generator's image of `codes`, at its own resolution.
    pub images: &'a Tensor,
}

/// An image at the encoder's side, as ReStyle's face pool makes it (area average; replication
/// when the generator is smaller).
fn at_input_side(images: &Tensor) -> Tensor {
    images.adaptive_avg_pool2d([INPUT_SIDE, INPUT_SIDE])
}

/// Photos [N, 3, 256, 256] in −1…1 → W+ codes [N, n_latent, width] after `rounds` rounds,
/// starting from `latent_avg` [n_latent, width] and its image; `trace` sees every round.
pub fn encode(
    encoder: &RestyleEncoder,
    generator: &Generator,
    latent_avg: &Tensor,
    photos: &Tensor,
    rounds: usize,
    mut trace: impl FnMut(&Round),
) -> Tensor {
    let kind = encoder.kind;
    let photos = photos.to_device(encoder.device).to_kind(kind);
    let n = photos.size()[0];
    let average = latent_avg.unsqueeze(0);
    let mut codes = average.expand([n, -1, -1], false).contiguous();
    let mut previous =
        at_input_side(&generator.synthesis(&average).to_kind(kind)).expand([n, -1, -1, -1], false);
    for index in 0..rounds.max(1) {
        let input = Tensor::cat(&[&photos, &previous], 1);
        let residual = encoder.forward(&input);
        codes = &residual + &codes;
        let images = generator.synthesis(&codes).to_kind(kind);
        trace(&Round {
            index,
            input: &input,
            residual: &residual,
            codes: &codes,
            images: &images,
        });
        previous = at_input_side(&images);
    }
    codes
}

/// Encoder weights drawn at random, named as a checkpoint names them (for benchmarks: the cost
/// of an encode does not depend on the values); widths as [`super::psp::random_weights`].
pub fn random_weights(widths: [i64; 4], style_width: i64, n_styles: usize, seed: i64) -> TensorSet {
    // Every head reads the 16×16 features: four halvings to 1×1.
    super::psp::random_backbone_and_heads(widths, style_width, n_styles, 6, |_| 4, seed)
}
