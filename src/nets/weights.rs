//! Shipped weights: located in `models/`, checked against `models/MANIFEST.toml`, loaded into a
//! VarStore. Networks never open files themselves.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("model file {0} is missing; the models/ folder of the lifelapse source holds it")]
    Missing(PathBuf),
    #[error("model file {file} has no entry in {manifest}")]
    NotInManifest { file: String, manifest: PathBuf },
    #[error("model file {file} is damaged: sha256 {actual}, expected {expected}")]
    Checksum {
        file: String,
        actual: String,
        expected: String,
    },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("model file {file} does not fit the network: {message}")]
    Load { file: String, message: String },
}

#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    model: Vec<ManifestEntry>,
}

#[derive(Debug, Deserialize)]
struct ManifestEntry {
    file: String,
    sha256: String,
}

/// The directory holding shipped models: `LIFELAPSE_MODELS_DIR`, else `models/` beside the
/// executable, else the source tree's `models/` that the binary was built from.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LIFELAPSE_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|p| p.join("models")))
        .filter(|d| d.join("MANIFEST.toml").is_file())
    {
        return dir;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn read(path: &Path) -> Result<Vec<u8>, WeightsError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => WeightsError::Missing(path.to_path_buf()),
        _ => WeightsError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })
}

/// Checks `file` (a name in `dir`) against the manifest's sha256 and returns its path.
pub fn verified(dir: &Path, file: &str) -> Result<PathBuf, WeightsError> {
    let manifest_path = dir.join("MANIFEST.toml");
    let text = String::from_utf8_lossy(&read(&manifest_path)?).into_owned();
    let manifest: Manifest = toml::from_str(&text).map_err(|e| WeightsError::Read {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    let entry = manifest
        .model
        .iter()
        .find(|m| m.file == file)
        .ok_or_else(|| WeightsError::NotInManifest {
            file: file.to_string(),
            manifest: manifest_path.clone(),
        })?;
    let path = dir.join(file);
    let actual = crate::leaves::hash::content_hash(&read(&path)?);
    if actual != entry.sha256 {
        return Err(WeightsError::Checksum {
            file: file.to_string(),
            actual,
            expected: entry.sha256.clone(),
        });
    }
    Ok(path)
}

/// Fills every variable of `vs` from the verified safetensors file `file` in `dir`.
pub fn load(vs: &mut VarStore, dir: &Path, file: &str) -> Result<(), WeightsError> {
    let path = verified(dir, file)?;
    vs.load(&path).map_err(|e| WeightsError::Load {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    vs.freeze();
    Ok(())
}

/// Builds a network on `device` with `build` and fills it from the verified file `file` in the
/// shipped models directory: every network's loader.
pub fn load_net<N>(
    device: tch::Device,
    file: &str,
    build: impl FnOnce(&tch::nn::Path) -> N,
) -> Result<(VarStore, N), WeightsError> {
    let mut vs = VarStore::new(device);
    let net = build(&vs.root());
    load(&mut vs, &models_dir(), file)?;
    Ok((vs, net))
}
