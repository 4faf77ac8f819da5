//! The render networks of one process: an imported checkpoint is loaded onto the device
//! once, on the first render that needs it (or at start), and its engine is shared by every
//! render, so concurrent renders share the worker's batches instead of each loading a copy;
//! the person segmenter likewise, on the CPU (at 256² it costs milliseconds per photo).

use super::{Engine, EngineError, EngineOptions, EngineStats};
use crate::leaves::mask::PersonMask;
use crate::nets::import::{self, ImportedModel};
use crate::nets::person_segmenter::{PersonSegmenter, SegmenterError};
use image::RgbImage;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Resident {
    options: EngineOptions,
    stats: Arc<EngineStats>,
    /// The loaded checkpoint's sha256 and its engine.
    loaded: Mutex<Option<(String, Engine)>>,
    /// Tensors are not shared between threads: renders take turns (a few milliseconds each).
    segmenter: Mutex<Option<PersonSegmenter>>,
}

impl Resident {
    pub fn new(options: EngineOptions) -> Self {
        Self {
            options,
            stats: Arc::default(),
            loaded: Mutex::new(None),
            segmenter: Mutex::new(None),
        }
    }

    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    /// The engine of `entry` (an imported checkpoint of `models_dir`), started on first use. A
    /// render that asks while another loads waits for that load rather than starting its own;
    /// asking for a different checkpoint replaces the loaded one.
    pub fn engine(&self, models_dir: &Path, entry: &ImportedModel) -> Result<Engine, EngineError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((sha256, engine)) = loaded.as_ref() {
            if *sha256 == entry.sha256 {
                return Ok(engine.clone());
            }
        }
        // The old engine's worker stops once its last render drops its handle.
        *loaded = None;
        let checkpoint = import::open_imported(models_dir, entry)?;
        tracing::info!(file = %entry.file, kind = %entry.kind, "loading the generative networks");
        let engine = Engine::start(checkpoint, self.options, self.stats.clone())?;
        *loaded = Some((entry.sha256.clone(), engine.clone()));
        Ok(engine)
    }

    /// The person's mask in each image, by the person segmenter (loaded on first use).
    pub fn person_masks(&self, images: &[&RgbImage]) -> Result<Vec<PersonMask>, SegmenterError> {
        let mut loaded = self.segmenter.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.is_none() {
            *loaded = Some(PersonSegmenter::load(tch::Device::Cpu)?);
        }
        match loaded.as_ref() {
            Some(net) => net.masks(images),
            None => Ok(Vec::new()),
        }
    }
}
