//! Layers shared by the networks, written to match TensorFlow's arithmetic where the imported
//! weights were trained with it.

use tch::Tensor;

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
