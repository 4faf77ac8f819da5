//! Layers shared by the networks, written to match TensorFlow's arithmetic where the imported
//! weights were trained with it.

use tch::nn::{Init, Path};
use tch::Tensor;

/// A depthwise-separable 3×3 convolution's weights, named as in face-api's manifests, applied
/// with TF "same" padding.
pub struct SeparableConv {
    depthwise: Tensor,
    pointwise: Tensor,
    bias: Tensor,
}

impl SeparableConv {
    pub fn new(p: &Path, c_in: i64, c_out: i64) -> Self {
        Self {
            depthwise: p.var("depthwise_filter", &[c_in, 1, 3, 3], Init::Const(0.0)),
            pointwise: p.var("pointwise_filter", &[c_out, c_in, 1, 1], Init::Const(0.0)),
            bias: p.var("bias", &[c_out], Init::Const(0.0)),
        }
    }

    pub fn forward(&self, x: &Tensor, stride: i64) -> Tensor {
        separable_conv2d_same(x, &self.depthwise, &self.pointwise, &self.bias, stride)
    }
}

/// A plain convolution and its bias, named `filters` and `bias` as in face-api's manifests.
pub struct Conv {
    filters: Tensor,
    bias: Tensor,
}

impl Conv {
    pub fn new(p: &Path, c_in: i64, c_out: i64, k: i64) -> Self {
        Self {
            filters: p.var("filters", &[c_out, c_in, k, k], Init::Const(0.0)),
            bias: p.var("bias", &[c_out], Init::Const(0.0)),
        }
    }

    /// Where the weights live.
    pub fn device(&self) -> tch::Device {
        self.filters.device()
    }

    /// With TF "same" padding.
    pub fn forward(&self, x: &Tensor, stride: i64) -> Tensor {
        conv2d_same(x, &self.filters, Some(&self.bias), stride)
    }
}

/// TF "same" max pooling (`k`×`k`, `stride`): the padding is −∞, so it never wins.
pub fn max_pool_same(x: &Tensor, k: i64, stride: i64) -> Tensor {
    let size = x.size();
    let (h, w) = (size[2], size[3]);
    let pad = |n: i64| (((n + stride - 1) / stride - 1) * stride + k - n).max(0);
    let (ph, pw) = (pad(h), pad(w));
    x.pad(
        [pw / 2, pw - pw / 2, ph / 2, ph - ph / 2],
        "constant",
        Some(f64::NEG_INFINITY),
    )
    .max_pool2d([k, k], [stride, stride], [0, 0], [1, 1], false)
}

/// Moves the images to the network's `device`, subtracts the per-channel means and divides by
/// 255, as every face-api network does first.
pub fn normalize(images: &Tensor, mean_rgb: &[f64; 3], device: tch::Device) -> Tensor {
    let mean = Tensor::from_slice(mean_rgb)
        .to_kind(tch::Kind::Float)
        .to_device(device)
        .view([1, 3, 1, 1]);
    (images.to_device(device).to_kind(tch::Kind::Float) - mean) / 255.0
}

/// Pads `x` ([N, C, H, W]) the way TensorFlow's "same" padding does for a `k`×`k` kernel at
/// `stride`: the total padding is split with the extra pixel at the bottom and right.
pub fn tf_same_pad(x: &Tensor, k: i64, stride: i64) -> Tensor {
    let size = x.size();
    let (h, w) = (size[2], size[3]);
    let total = |n: i64| (((n + stride - 1) / stride - 1) * stride + k - n).max(0);
    let (ph, pw) = (total(h), total(w));
    if ph == 0 && pw == 0 {
        return x.shallow_clone();
    }
    x.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2])
}

/// Regular convolution with TF "same" padding. `filters` is [out, in, k, k].
pub fn conv2d_same(x: &Tensor, filters: &Tensor, bias: Option<&Tensor>, stride: i64) -> Tensor {
    let k = filters.size()[2];
    tf_same_pad(x, k, stride).conv2d(filters, bias, [stride, stride], [0, 0], [1, 1], 1)
}

/// Depthwise-separable convolution with TF "same" padding: a per-channel `k`×`k` filter
/// ([C, 1, k, k]) then a 1×1 pointwise one ([out, C, 1, 1]) and the bias.
pub fn separable_conv2d_same(
    x: &Tensor,
    depthwise: &Tensor,
    pointwise: &Tensor,
    bias: &Tensor,
    stride: i64,
) -> Tensor {
    let channels = depthwise.size()[0];
    let k = depthwise.size()[2];
    tf_same_pad(x, k, stride)
        .conv2d(
            depthwise,
            None::<&Tensor>,
            [stride, stride],
            [0, 0],
            [1, 1],
            channels,
        )
        .conv2d(pointwise, Some(bias), [1, 1], [0, 0], [1, 1], 1)
}

/// Equalised-learning-rate linear layer (StyleGAN2's and StyleGAN3's fully connected layers):
/// weights are stored divided by the learning-rate multiplier and scaled by `lr / √fan-in` at
/// run time, biases by `lr`; the scales are folded in once here.
pub struct EqualLinear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl EqualLinear {
    pub fn new(
        t: &super::tensor_set::TensorSet,
        name: &str,
        (c_in, c_out): (i64, i64),
        lr_mul: f64,
        device: tch::Device,
        kind: tch::Kind,
    ) -> Result<Self, super::tensor_set::TensorSetError> {
        let float = tch::Kind::Float;
        let w = t.take(&format!("{name}.weight"), &[c_out, c_in], device, float)?;
        let b = t.take(&format!("{name}.bias"), &[c_out], device, float)?;
        Ok(Self {
            weight: (w * (lr_mul / (c_in as f64).sqrt())).to_kind(kind),
            bias: (b * lr_mul).to_kind(kind),
        })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn same_padding_puts_the_odd_pixel_bottom_right() {
        let x = Tensor::ones([1, 1, 4, 4], (Kind::Float, Device::Cpu));
        // k = 3, stride 2 on 4 pixels: output 2, total padding 1, all of it after.
        let padded = tf_same_pad(&x, 3, 2);
        assert_eq!(padded.size(), vec![1, 1, 5, 5]);
        assert_eq!(padded.double_value(&[0, 0, 0, 0]), 1.0);
        assert_eq!(padded.double_value(&[0, 0, 4, 4]), 0.0);
        // Stride 1: one pixel each side.
        assert_eq!(tf_same_pad(&x, 3, 1).size(), vec![1, 1, 6, 6]);
    }
}
