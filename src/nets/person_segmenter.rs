//! Person segmentation: MediaPipe's selfie segmenter (Apache-2.0; a MobileNetV3-style encoder
//! with squeeze-and-excitation blocks and an attention decoder that upsamples back to its
//! 256² input), giving each pixel's probability of belonging to the person (hair and clothes
//! included). The renderers use it to treat a photo's background apart from the person.
//!
//! The published model is a TFLite graph whose layers carry TFLite's automatic names
//! (`conv2d_17`, `depthwise_conv2d_4`), so the converted file keeps it as a graph:
//! tools/convert_selfie_segmenter.py stores the operators in execution order in the file's
//! metadata and the weights in PyTorch's layout, and [`PersonSegmenter`] runs that list. The
//! wiring is read from the file, never assumed.

use crate::leaves::mask::PersonMask;
use crate::nets::weights::{self, WeightsError};
use image::RgbImage;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The shipped model file.
pub const FILE: &str = "person_segmenter.safetensors";

#[derive(Debug, thiserror::Error)]
pub enum SegmenterError {
    #[error("the person segmenter's model file")]
    Weights(#[source] WeightsError),
    #[error("the person segmenter's model file {file} is not a safetensors file")]
    Format {
        file: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("the person segmenter's model file {file} has no readable graph")]
    Graph {
        file: String,
        #[source]
        source: Option<serde_json::Error>,
    },
    #[error("the person segmenter's graph uses {name}, which nothing made")]
    Dangling { name: String },
    #[error("the person segmenter's tensors")]
    Torch(#[from] tch::TchError),
}

/// One operator of the converted graph; names are the graph's tensor names.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    /// Convolution with TensorFlow's "same" padding (extra pixel bottom and right) or none.
    Conv {
        x: String,
        y: String,
        layer: String,
        stride: i64,
        same: bool,
    },
    Depthwise {
        x: String,
        y: String,
        layer: String,
        stride: i64,
        same: bool,
    },
    /// Transposed convolution with bias, no padding.
    Deconv {
        x: String,
        y: String,
        layer: String,
        stride: i64,
    },
    /// Global average pooling (keeps the spatial dimensions, at 1×1).
    Mean {
        x: String,
        y: String,
    },
    Add {
        a: String,
        b: String,
        y: String,
    },
    Mul {
        a: String,
        b: String,
        y: String,
    },
    Relu {
        x: String,
        y: String,
    },
    HardSwish {
        x: String,
        y: String,
    },
    Sigmoid {
        x: String,
        y: String,
    },
    /// Bilinear resize with half-pixel centres.
    Upsample {
        x: String,
        y: String,
        size: [i64; 2],
    },
}

#[derive(Debug, Deserialize)]
struct Graph {
    ops: Vec<Op>,
    input: String,
    output: String,
    input_size: [i64; 2],
}

pub struct PersonSegmenter {
    graph: Graph,
    weights: HashMap<String, Tensor>,
    device: Device,
}

impl PersonSegmenter {
    /// The shipped model, checked against the manifest.
    pub fn load(device: Device) -> Result<Self, SegmenterError> {
        let path =
            weights::verified(&weights::models_dir(), FILE).map_err(SegmenterError::Weights)?;
        Self::from_file(&path, device)
    }

    /// A converted model file (tools/convert_selfie_segmenter.py).
    pub fn from_file(path: &Path, device: Device) -> Result<Self, SegmenterError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            SegmenterError::Weights(WeightsError::Read {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        })?;
        let format = |source| SegmenterError::Format {
            file: file.clone(),
            source,
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(format)?;
        let text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("graph"))
            .ok_or_else(|| SegmenterError::Graph {
                file: file.clone(),
                source: None,
            })?;
        let graph: Graph = serde_json::from_str(text).map_err(|e| SegmenterError::Graph {
            file: file.clone(),
            source: Some(e),
        })?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(format)?;
        let mut weights = HashMap::new();
        for (name, view) in st.tensors() {
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let t = Tensor::f_from_data_size(view.data(), &shape, Kind::Float)?;
            weights.insert(name, t.to_device(device));
        }
        Ok(Self {
            graph,
            weights,
            device,
        })
    }

    /// The side of the square input the network was trained on.
    pub fn input_size(&self) -> (i64, i64) {
        (self.graph.input_size[0], self.graph.input_size[1])
    }

    fn weight(&self, layer: &str, part: &str) -> Result<&Tensor, SegmenterError> {
        let name = format!("{layer}.{part}");
        self.weights
            .get(&name)
            .ok_or(SegmenterError::Dangling { name })
    }

    /// Runs the graph on an `[N, 3, H, W]` batch (RGB, 0–1, at [`Self::input_size`]) and
    /// returns the output (`[N, 1, H, W]` probabilities) and the tensors named in `keep`.
    pub fn run(
        &self,
        input: &Tensor,
        keep: &[&str],
    ) -> Result<(Tensor, HashMap<String, Tensor>), SegmenterError> {
        let mut values: HashMap<&str, Tensor> = HashMap::new();
        values.insert(self.graph.input.as_str(), input.to_device(self.device));
        let get = |values: &HashMap<&str, Tensor>, name: &str| {
            values
                .get(name)
                .map(Tensor::shallow_clone)
                .ok_or_else(|| SegmenterError::Dangling {
                    name: name.to_string(),
                })
        };
        for op in &self.graph.ops {
            let (y, value) = match op {
                Op::Conv {
                    x,
                    y,
                    layer,
                    stride,
                    same,
                }
                | Op::Depthwise {
                    x,
                    y,
                    layer,
                    stride,
                    same,
                } => {
                    let w = self.weight(layer, "weight")?;
                    let x = pad_same(&get(&values, x)?, w, *stride, *same)?;
                    let b = self.weight(layer, "bias")?;
                    // A depthwise kernel is [C, 1, kh, kw]: one group per channel.
                    let groups = match op {
                        Op::Depthwise { .. } => w.size()[0],
                        _ => 1,
                    };
                    (
                        y,
                        x.f_conv2d(w, Some(b), [*stride; 2], [0, 0], [1, 1], groups)?,
                    )
                }
                Op::Deconv {
                    x,
                    y,
                    layer,
                    stride,
                } => {
                    let w = self.weight(layer, "weight")?;
                    let b = self.weight(layer, "bias")?;
                    let x = get(&values, x)?;
                    (
                        y,
                        x.f_conv_transpose2d(w, Some(b), [*stride; 2], [0, 0], [0, 0], 1, [1, 1])?,
                    )
                }
                Op::Mean { x, y } => (
                    y,
                    get(&values, x)?.f_mean_dim([2i64, 3].as_slice(), true, Kind::Float)?,
                ),
                Op::Add { a, b, y } => (y, get(&values, a)?.f_add(&get(&values, b)?)?),
                Op::Mul { a, b, y } => (y, get(&values, a)?.f_mul(&get(&values, b)?)?),
                Op::Relu { x, y } => (y, get(&values, x)?.f_relu()?),
                Op::HardSwish { x, y } => (y, get(&values, x)?.f_hardswish()?),
                Op::Sigmoid { x, y } => (y, get(&values, x)?.f_sigmoid()?),
                Op::Upsample { x, y, size } => (
                    y,
                    get(&values, x)?.f_upsample_bilinear2d(size.as_slice(), false, None, None)?,
                ),
            };
            values.insert(y.as_str(), value);
        }
        let output = get(&values, &self.graph.output)?;
        let kept = keep
            .iter()
            .map(|&k| Ok((k.to_string(), get(&values, k)?)))
            .collect::<Result<_, SegmenterError>>()?;
        Ok((output, kept))
    }

    /// The person's mask for each image, at each image's own size.
    pub fn masks(&self, images: &[&RgbImage]) -> Result<Vec<PersonMask>, SegmenterError> {
        let (h, w) = self.input_size();
        let batch: Vec<Tensor> = images
            .iter()
            .map(|img| {
                let (iw, ih) = img.dimensions();
                let small = crate::leaves::resize::crop_resize(
                    img,
                    (0.0, 0.0, iw as f64, ih as f64),
                    w as u32,
                    h as u32,
                );
                super::tensor_from_rgb(&small)
            })
            .collect();
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (probabilities, _) = tch::no_grad(|| self.run(&Tensor::stack(&batch, 0), &[]))?;
        let mut out = Vec::with_capacity(images.len());
        for (i, img) in images.iter().enumerate() {
            let (iw, ih) = img.dimensions();
            let full = probabilities
                .get(i as i64)
                .unsqueeze(0)
                .f_upsample_bilinear2d([ih as i64, iw as i64].as_slice(), false, None, None)?
                .clamp(0.0, 1.0)
                .to_device(Device::Cpu)
                .contiguous()
                .view([-1]);
            out.push(PersonMask::from_probabilities(
                iw,
                ih,
                Vec::<f32>::try_from(&full)?,
            ));
        }
        Ok(out)
    }
}

/// TensorFlow's "same" padding for a `stride`d convolution with kernel `w`: the output is
/// ceil(input / stride), and an odd total pad puts the extra pixel bottom and right.
fn pad_same(x: &Tensor, w: &Tensor, stride: i64, same: bool) -> Result<Tensor, tch::TchError> {
    let (kh, kw) = (w.size()[2], w.size()[3]);
    if !same || (kh == 1 && kw == 1 && stride == 1) {
        return Ok(x.shallow_clone());
    }
    let size = x.size();
    let total = |input: i64, k: i64| {
        let out = (input + stride - 1) / stride;
        ((out - 1) * stride + k - input).max(0)
    };
    let (th, tw) = (total(size[2], kh), total(size[3], kw));
    x.f_constant_pad_nd([tw / 2, tw - tw / 2, th / 2, th - th / 2].as_slice())
}
