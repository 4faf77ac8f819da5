//! Faces in photos: detection, 68 landmarks and FFHQ alignment behind one facade.

pub mod align;
pub mod detect;
pub mod identity;
pub mod landmarks;
pub mod quality;

pub use align::Quad;
pub use detect::{DetectOptions, FaceBox};
pub use identity::{Descriptor, IdentityOptions, Verdict};
pub use landmarks::Landmarks;

use crate::nets::{self, age, face_descriptor, face_detector, landmarks68, weights::WeightsError};
use image::RgbImage;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error("cannot load the face models: {0}")]
    Weights(#[from] WeightsError),
}

/// Faces narrower than this (in photo pixels) are found and reported, but too coarse to align.
pub const MIN_ALIGN_PX: f32 = 32.0;

/// One face found in a photo.
#[derive(Debug, Clone)]
pub struct Face {
    pub bbox: FaceBox,
    pub landmarks: Landmarks,
    pub quad: Quad,
    /// Identity descriptor; `None` for faces too small to describe.
    pub descriptor: Option<Descriptor>,
    /// The age network's estimate in years; `None` for faces too small to describe.
    pub estimated_age: Option<f32>,
    /// Sharpness of the face chip (0–1); `None` for faces too small to describe.
    pub sharpness: Option<f32>,
}

impl Face {
    /// A face found and landmarked, not yet described.
    fn located(bbox: FaceBox, landmarks: Landmarks) -> Self {
        Self {
            bbox,
            quad: align::ffhq_quad(&landmarks),
            landmarks,
            descriptor: None,
            estimated_age: None,
            sharpness: None,
        }
    }

    pub fn too_small(&self) -> bool {
        self.bbox.w.min(self.bbox.h) < MIN_ALIGN_PX
    }
}

/// The face networks, loaded once and used for every photo.
pub struct FaceAnalyzer {
    detector: face_detector::TinyFaceDetector,
    landmarks: landmarks68::FaceLandmark68Net,
    descriptor: face_descriptor::FaceRecognitionNet,
    age: age::AgeGenderNet,
    // The networks' weights live here; kept alive with them.
    _stores: Vec<tch::nn::VarStore>,
    pub detect_options: DetectOptions,
}

impl FaceAnalyzer {
    /// The networks with the detector settings of `[faces]`.
    pub fn load_configured(
        device: tch::Device,
        config: &crate::config::FacesConfig,
    ) -> Result<Self, FaceError> {
        Ok(Self {
            detect_options: DetectOptions {
                input_size: config.detect_size,
                score_threshold: config.detect_score,
                ..DetectOptions::default()
            },
            ..Self::load(device)?
        })
    }

    /// The networks with the default detector settings.
    pub fn load(device: tch::Device) -> Result<Self, FaceError> {
        let (vs_d, detector) = face_detector::load(device)?;
        let (vs_l, landmarks) = landmarks68::load(device)?;
        let (vs_r, descriptor) = face_descriptor::load(device)?;
        let (vs_a, age) = age::load(device)?;
        Ok(Self {
            detector,
            landmarks,
            descriptor,
            age,
            _stores: vec![vs_d, vs_l, vs_r, vs_a],
            detect_options: DetectOptions::default(),
        })
    }

    /// The faces of every photo of the album, in album order; `progress` is told once per photo.
    pub fn analyze_album(
        &self,
        album: &crate::album::Album,
        progress: &dyn Fn(),
    ) -> Vec<Vec<Face>> {
        album
            .photos
            .iter()
            .map(|p| {
                let faces = self.analyze(&p.image);
                progress();
                faces
            })
            .collect()
    }

    /// Every face in `image`, best detection first. A photo that is one tight face crop (the
    /// face fills the frame) is retried with a border, as the detector needs context.
    pub fn analyze(&self, image: &RgbImage) -> Vec<Face> {
        let _span = tracing::debug_span!("faces").entered();
        let mut boxes = detect::detect(&self.detector, image, self.detect_options);
        if boxes.is_empty() {
            boxes = self.detect_with_border(image);
        }
        let marks = landmarks::locate(&self.landmarks, image, &boxes);
        let mut faces: Vec<Face> = boxes
            .into_iter()
            .zip(marks)
            .map(|(bbox, landmarks)| Face::located(bbox, landmarks))
            .collect();
        self.describe(image, &mut faces);
        faces
    }

    /// Fills in the descriptors and age estimates of the faces large enough, in one batch per
    /// network. Both networks see the same rotation-free chip at their own input size. The
    /// descriptor is the mean of the chip's and its mirror image's (test-time augmentation),
    /// which keeps one person's photos closer together; the age network's mirrored estimate
    /// was no better on testdata, so it sees the chip once (docs/faces.md has the figures).
    fn describe(&self, image: &RgbImage, faces: &mut [Face]) {
        let wanted: Vec<usize> = (0..faces.len())
            .filter(|&i| !faces[i].too_small())
            .collect();
        if wanted.is_empty() {
            return;
        }
        let chips = |size: i64| -> Vec<RgbImage> {
            wanted
                .iter()
                .map(|&i| {
                    align::align(image, identity::chip_quad(&faces[i].landmarks), size as u32)
                })
                .collect()
        };
        let id_chips = chips(self.descriptor.input_size());
        let age_chips = chips(self.age.input_size());
        let (descriptors, ages) = tch::no_grad(|| {
            let d = self
                .descriptor
                .forward(&with_mirror(&id_chips))
                .view([2, wanted.len() as i64, -1])
                .mean_dim(0, false, tch::Kind::Float);
            let (a, _gender) = self
                .age
                .forward(&nets::batch_from_rgb(&age_chips.iter().collect::<Vec<_>>()));
            (
                Vec::<f32>::try_from(d.flatten(0, -1).to_device(tch::Device::Cpu)),
                Vec::<f32>::try_from(a.to_device(tch::Device::Cpu)),
            )
        });
        let (Ok(descriptors), Ok(ages)) = (descriptors, ages) else {
            return;
        };
        for (row, &i) in wanted.iter().enumerate() {
            if let Some(src) = descriptors.get(row * 128..(row + 1) * 128) {
                let mut d = [0.0f32; 128];
                d.copy_from_slice(src);
                faces[i].descriptor = Some(d);
            }
            faces[i].estimated_age = ages.get(row).map(|a| a.max(0.0));
            faces[i].sharpness = age_chips.get(row).map(quality::sharpness);
        }
    }

    /// The face of an FFHQ-aligned image (a keyframe or a rendered frame). The detector
    /// occasionally misses a face that fills the frame; then the face is taken where alignment
    /// put it, and located and described from there.
    pub fn analyze_aligned(&self, image: &RgbImage) -> Option<Face> {
        if let Some(face) = self.analyze(image).into_iter().next() {
            return Some(face);
        }
        let (w, h) = image.dimensions();
        let bbox = FaceBox {
            x: 0.2 * w as f32,
            y: 0.26 * h as f32,
            w: 0.6 * w as f32,
            h: 0.64 * h as f32,
            score: 0.0,
        };
        let landmarks = landmarks::locate(&self.landmarks, image, &[bbox])
            .into_iter()
            .next()?;
        let mut faces = [Face::located(bbox, landmarks)];
        self.describe(image, &mut faces);
        let [face] = faces;
        Some(face)
    }

    fn detect_with_border(&self, image: &RgbImage) -> Vec<FaceBox> {
        let (w, h) = image.dimensions();
        let (bx, by) = (w, h);
        let mut padded = RgbImage::from_pixel(w + 2 * bx, h + 2 * by, image::Rgb([128, 128, 128]));
        image::imageops::replace(&mut padded, image, bx as i64, by as i64);
        // A face filling the whole frame scores lower than one in context: accept less.
        let options = DetectOptions {
            score_threshold: self.detect_options.score_threshold * 0.6,
            ..self.detect_options
        };
        detect::detect(&self.detector, &padded, options)
            .into_iter()
            .map(|b| {
                let (x0, y0) = ((b.x - bx as f32).max(0.0), (b.y - by as f32).max(0.0));
                let (x1, y1) = (
                    (b.x + b.w - bx as f32).min(w as f32),
                    (b.y + b.h - by as f32).min(h as f32),
                );
                FaceBox {
                    x: x0,
                    y: y0,
                    w: (x1 - x0).max(1.0),
                    h: (y1 - y0).max(1.0),
                    ..b
                }
            })
            .collect()
    }
}

/// A batch of the chips followed by their mirror images (flipped left to right).
fn with_mirror(chips: &[RgbImage]) -> tch::Tensor {
    let batch = nets::batch_from_rgb(&chips.iter().collect::<Vec<_>>());
    let mirrored = batch.flip([3]);
    tch::Tensor::cat(&[batch, mirrored], 0)
}
