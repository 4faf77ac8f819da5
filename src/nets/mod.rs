//! Networks in tch. Images meet tensors only here, at one seam.

pub mod age;
pub mod cuda_kernels;
pub mod device;
pub mod e4e;
pub mod face_descriptor;
pub mod face_detector;
pub mod filtered_lrelu_kernel;
pub mod generative;
pub mod import;
pub mod landmarks68;
pub mod layers;
pub mod person_segmenter;
pub mod psp;
pub mod restyle;
pub mod stylegan2;
pub mod stylegan3;
pub mod tensor_set;
pub mod torch_pickle;
pub mod weights;

use image::RgbImage;
use tch::{Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("device {0:?} is not understood; use auto, cpu or cuda:N")]
    BadDevice(String),
    #[error("CUDA device {0} was asked for, but no CUDA device is available")]
    NoCuda(usize),
    #[error("expected an image tensor [3, H, W], got {0:?}")]
    BadShape(Vec<i64>),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

/// `[3, H, W]` float tensor with values in 0–1.
pub fn tensor_from_rgb(image: &RgbImage) -> Tensor {
    let (w, h) = image.dimensions();
    Tensor::from_slice(image.as_raw())
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
        / 255.0
}

/// `[N, 3, H, W]` float batch with values in 0–255, the input the face networks expect.
/// All images must have the same size.
pub fn batch_from_rgb(images: &[&RgbImage]) -> Tensor {
    let tensors: Vec<Tensor> = images
        .iter()
        .map(|img| tensor_from_rgb(img) * 255.0)
        .collect();
    Tensor::stack(&tensors, 0)
}

/// The inverse of [`tensor_from_rgb`]: clamps to 0–1 and rounds to 8 bits.
pub fn rgb_from_tensor(tensor: &Tensor) -> Result<RgbImage, NetError> {
    let size = tensor.size();
    let [3, h, w] = size[..] else {
        return Err(NetError::BadShape(size));
    };
    let bytes = (tensor
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .clamp(0.0, 1.0)
        * 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .permute([1, 2, 0])
        .contiguous();
    let mut out = vec![0u8; (h * w * 3) as usize];
    let len = out.len();
    bytes.f_copy_data(&mut out, len)?;
    RgbImage::from_raw(w as u32, h as u32, out).ok_or(NetError::BadShape(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_survives_the_tensor_seam() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([(x * 30) as u8, (y * 50) as u8, 7]));
        let t = tensor_from_rgb(&img);
        assert_eq!(t.size(), vec![3, 5, 7]);
        assert!((t.double_value(&[1, 4, 0]) - 200.0 / 255.0).abs() < 1e-6);
        assert_eq!(rgb_from_tensor(&t).expect("back"), img);
        assert!(rgb_from_tensor(&Tensor::zeros([2, 2], (Kind::Float, tch::Device::Cpu))).is_err());
    }
}
