//! The generative networks of one process: an imported checkpoint is loaded onto the device
//! once, on the first render that needs it (or at start), and its engine is shared by every
//! render, so concurrent renders share the worker's batches instead of each loading a copy.

use super::{Engine, EngineError, EngineOptions, EngineStats};
use crate::nets::import::{self, ImportedModel};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct Resident {
    options: EngineOptions,
    stats: Arc<EngineStats>,
    /// The loaded checkpoint's sha256 and its engine.
    loaded: Mutex<Option<(String, Engine)>>,
}

impl Resident {
    pub fn new(options: EngineOptions) -> Self {
        Self {
            options,
            stats: Arc::default(),
            loaded: Mutex::new(None),
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
}
