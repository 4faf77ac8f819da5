//! The e4e encoder (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation",
//! <https://arxiv.org/abs/2102.02766>): pSp's backbone and pyramid, but one head predicts a single
//! w for every layer and the other heads predict per-layer offsets from it, which keeps codes
//! near W and so easier to interpolate. Inference applies every offset.

use super::psp::{EncoderParts, COARSE, MIDDLE};
use super::tensor_set::{TensorSet, TensorSetError};
use tch::{Device, Kind, Tensor};

/// e4e's Encoder4Editing: 256² images normalised to −1…1 → W+ offsets [N, n_styles, 512].
pub struct E4eEncoder(EncoderParts);

impl E4eEncoder {
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

    /// The W+ offsets (before the average latent is added).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let parts = &self.0;
        let f = parts.features(x);
        let base = parts.heads[0].forward(&f.c3);
        let mut codes: Vec<Tensor> = (0..parts.heads.len())
            .map(|_| base.shallow_clone())
            .collect();
        let mut features = f.c3.shallow_clone();
        let mut p2 = None;
        for (i, head) in parts.heads.iter().enumerate().skip(1) {
            if i == COARSE {
                let level = parts.pyramid.p2(&f);
                features = level.shallow_clone();
                p2 = Some(level);
            } else if i == MIDDLE {
                if let Some(p2) = &p2 {
                    features = parts.pyramid.p1(p2, &f);
                }
            }
            codes[i] = &base + head.forward(&features);
        }
        Tensor::stack(&codes, 1)
    }
}
