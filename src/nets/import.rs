//! Published generative checkpoints → one canonical form lifelapse reads.
//!
//! Read: the rosinality-layout `.pt` (`g_ema`, `latent_avg`), NVIDIA's StyleGAN2-ADA and
//! StyleGAN3 network pickles (`G_ema`), the pSp, e4e and ReStyle `.pt` files (`state_dict` with
//! `encoder.*` and `decoder.*`, `opts`, `latent_avg`), and safetensors holding the same names
//! (including files this module wrote). `.pt` and `.pkl` files are read by
//! [`super::torch_pickle`], which never runs code from the file.
//!
//! Written: safetensors with the names `g_ema.*` (generator checkpoints) or `encoder.*` and
//! `decoder.*` (encoder checkpoints), plus `latent_avg`, and the kind and options in its
//! metadata; an entry in the directory's `MANIFEST.toml` records sha256, source and resolution.

use super::e4e::E4eEncoder;
use super::generative::{Family, Generator, Shape};
use super::psp::PspEncoder;
use super::restyle::RestyleEncoder;
use super::tensor_set::{TensorSet, TensorSetError};
use super::torch_pickle::{self, PickleError, TorchArchive};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tch::{Device, Kind, Tensor};

/// Largest checkpoint lifelapse reads (a 1024² config-f generator with its discriminator and
/// optimiser state is ~1 GB; pSp files are ~1.2 GB).
pub const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;

/// What went wrong underneath reading or writing a checkpoint's files.
#[derive(Debug, thiserror::Error)]
pub enum FileCause {
    #[error(transparent)]
    Open(#[from] crate::files::ReadError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    ManifestSyntax(#[from] toml::de::Error),
    #[error(transparent)]
    ManifestValue(#[from] toml::ser::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: FileCause,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: FileCause,
    },
    #[error("{path}: sha256 {actual} does not match the manifest's {expected}; import it again")]
    Checksum {
        path: PathBuf,
        actual: String,
        expected: String,
    },
    #[error("{0} is not a checkpoint lifelapse reads (expected a PyTorch .pt zip archive, an NVIDIA .pkl network pickle or a .safetensors file)")]
    UnknownFormat(PathBuf),
    #[error("{path} is a pickle without a G_ema generator (lifelapse reads NVIDIA's StyleGAN2-ADA and StyleGAN3 network pickles)")]
    BarePickle { path: PathBuf },
    #[error(transparent)]
    Pickle(#[from] PickleError),
    #[error("damaged safetensors file: {0}")]
    Safetensors(String),
    #[error("damaged safetensors file")]
    SafetensorsFormat(#[source] safetensors::SafeTensorError),
    #[error("a tensor of the checkpoint")]
    Tensor(#[source] tch::TchError),
    #[error("{0}")]
    Unrecognised(String),
    #[error("the checkpoint is a {found} checkpoint, not {asked}")]
    WrongKind {
        found: CheckpointKind,
        asked: CheckpointKind,
    },
    #[error(transparent)]
    Tensors(#[from] TensorSetError),
}

/// What a checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointKind {
    /// A StyleGAN2 generator alone.
    Stylegan2,
    /// A StyleGAN3 generator alone.
    Stylegan3,
    /// A pSp encoder and its generator.
    Psp,
    /// An e4e encoder and its generator.
    E4e,
    /// A ReStyle-pSp encoder and its generator (StyleGAN2 or StyleGAN3).
    Restyle,
}

impl CheckpointKind {
    /// Whether the checkpoint holds an encoder.
    pub fn has_encoder(self) -> bool {
        !matches!(self, CheckpointKind::Stylegan2 | CheckpointKind::Stylegan3)
    }
}

impl fmt::Display for CheckpointKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckpointKind::Stylegan2 => "stylegan2",
            CheckpointKind::Stylegan3 => "stylegan3",
            CheckpointKind::Psp => "psp",
            CheckpointKind::E4e => "e4e",
            CheckpointKind::Restyle => "restyle",
        })
    }
}

impl FromStr for CheckpointKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "stylegan2" => Ok(Self::Stylegan2),
            "stylegan3" => Ok(Self::Stylegan3),
            "psp" => Ok(Self::Psp),
            "e4e" => Ok(Self::E4e),
            "restyle" => Ok(Self::Restyle),
            other => Err(format!("unknown checkpoint kind {other:?}")),
        }
    }
}

/// A checkpoint in canonical form.
pub struct Checkpoint {
    pub kind: CheckpointKind,
    /// The generator's tensors (names as in `g_ema` for StyleGAN2, NVIDIA's for StyleGAN3).
    pub generator: TensorSet,
    pub generator_shape: Shape,
    /// The encoder's tensors (encoder checkpoints only).
    pub encoder: Option<TensorSet>,
    /// The average latent: [style_dim] for a generator, [n_latent, style_dim] for encoders.
    pub latent_avg: Option<Tensor>,
    /// Options stored with the checkpoint (pSp/e4e `opts`).
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl Checkpoint {
    pub fn resolution(&self) -> i64 {
        self.generator_shape.resolution()
    }

    pub fn family(&self) -> Family {
        self.generator_shape.family()
    }

    /// The generator, on `device` in `kind`.
    pub fn build_generator(&self, device: Device, kind: Kind) -> Result<Generator, ImportError> {
        Ok(Generator::new(
            &self.generator,
            &self.generator_shape,
            device,
            kind,
        )?)
    }

    /// The encoder and the average latent its offsets are added to.
    pub fn build_encoder(&self, device: Device, kind: Kind) -> Result<Encoder, ImportError> {
        let tensors = self.encoder.as_ref().ok_or_else(|| {
            ImportError::Unrecognised(format!(
                "a {} checkpoint has no encoder; import a pSp, e4e or ReStyle checkpoint",
                self.kind
            ))
        })?;
        let n_latent = self.generator_shape.n_latent() as i64;
        let style_dim = self.generator_shape.style_dim();
        let latent_avg = match &self.latent_avg {
            // One average w for every layer, or one per layer.
            Some(avg)
                if avg.numel() as i64 == style_dim
                    || avg.numel() as i64 == n_latent * style_dim =>
            {
                avg.to_kind(Kind::Float)
                    .reshape([-1, style_dim])
                    .expand([n_latent, style_dim], false)
                    .contiguous()
            }
            Some(avg) => {
                return Err(ImportError::Unrecognised(format!(
                "latent_avg has shape {:?}; the generator takes {n_latent} codes of {style_dim}",
                avg.size()
            )))
            }
            None => Tensor::zeros([n_latent, style_dim], (Kind::Float, Device::Cpu)),
        };
        let (network, code_width) = match self.kind {
            CheckpointKind::Psp => {
                let e = PspEncoder::new(tensors, device, kind)?;
                let width = e.code_width();
                (EncoderNet::Psp(e), width)
            }
            CheckpointKind::E4e => {
                let e = E4eEncoder::new(tensors, device, kind)?;
                let width = e.code_width();
                (EncoderNet::E4e(e), width)
            }
            CheckpointKind::Restyle => {
                let e = RestyleEncoder::new(tensors, device, kind)?;
                let width = e.code_width();
                (EncoderNet::Restyle(e), width)
            }
            CheckpointKind::Stylegan2 | CheckpointKind::Stylegan3 => {
                unreachable!("no encoder tensors in a generator")
            }
        };
        if code_width != style_dim {
            return Err(ImportError::Unrecognised(format!(
                "the encoder predicts codes of {code_width} values but its generator takes {style_dim}"
            )));
        }
        Ok(Encoder {
            network,
            latent_avg: latent_avg.to_device(device).to_kind(kind),
            rounds: default_rounds(self.family()),
        })
    }
}

/// ReStyle's rounds of refinement unless told otherwise: what its reference inference uses
/// for each generator family.
pub fn default_rounds(family: Family) -> usize {
    match family {
        Family::Stylegan2 => 5,
        Family::Stylegan3 => 3,
    }
}

enum EncoderNet {
    Psp(PspEncoder),
    E4e(E4eEncoder),
    Restyle(RestyleEncoder),
}

/// An image encoder into W+.
pub struct Encoder {
    network: EncoderNet,
    latent_avg: Tensor,
    /// Rounds of refinement (ReStyle only).
    rounds: usize,
}

impl Encoder {
    /// Sets ReStyle's rounds of refinement (at least 1); single-pass encoders ignore it.
    pub fn with_rounds(mut self, rounds: usize) -> Self {
        self.rounds = rounds.max(1);
        self
    }

    /// Whether encoding runs the generator (ReStyle's refinement does).
    pub fn is_iterative(&self) -> bool {
        matches!(self.network, EncoderNet::Restyle(_))
    }

    /// Images [N, 3, 256, 256] in −1…1 → W+ codes [N, n_latent, style_dim]. `generator` is the
    /// checkpoint's own: ReStyle reads its reconstructions.
    pub fn encode(&self, images: &Tensor, generator: &Generator) -> Tensor {
        self.encode_traced(images, generator, None, |_| {})
    }

    /// [`Encoder::encode`] with `rounds` of ReStyle's refinement instead of the encoder's own
    /// number, showing every round to `trace`.
    pub fn encode_traced(
        &self,
        images: &Tensor,
        generator: &Generator,
        rounds: Option<usize>,
        trace: impl FnMut(&super::restyle::Round),
    ) -> Tensor {
        let offsets = match &self.network {
            EncoderNet::Psp(e) => e.forward(images),
            EncoderNet::E4e(e) => e.forward(images),
            EncoderNet::Restyle(e) => {
                return super::restyle::encode(
                    e,
                    generator,
                    &self.latent_avg,
                    images,
                    rounds.unwrap_or(self.rounds),
                    trace,
                )
            }
        };
        offsets + &self.latent_avg
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ImportError> {
    crate::files::read_regular(path, MAX_CHECKPOINT_BYTES).map_err(|e| ImportError::Read {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

fn kind_of_dtype(dtype: safetensors::Dtype) -> Option<Kind> {
    use safetensors::Dtype as D;
    Some(match dtype {
        D::F32 => Kind::Float,
        D::F16 => Kind::Half,
        D::BF16 => Kind::BFloat16,
        D::F64 => Kind::Double,
        D::I64 => Kind::Int64,
        D::I32 => Kind::Int,
        D::I16 => Kind::Int16,
        D::I8 => Kind::Int8,
        D::U8 => Kind::Uint8,
        D::BOOL => Kind::Bool,
        _ => return None,
    })
}

type Raw = (
    BTreeMap<String, Tensor>,
    serde_json::Map<String, serde_json::Value>,
    Option<CheckpointKind>,
);

fn read_safetensors(bytes: &[u8]) -> Result<Raw, ImportError> {
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(ImportError::SafetensorsFormat)?;
    let st =
        safetensors::SafeTensors::deserialize(bytes).map_err(ImportError::SafetensorsFormat)?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = kind_of_dtype(view.dtype()).ok_or_else(|| {
            ImportError::Safetensors(format!("tensor {name} has type {:?}", view.dtype()))
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, kind).map_err(ImportError::Tensor)?;
        tensors.insert(name, t);
    }
    let metadata = meta.metadata().clone().unwrap_or_default();
    let options = ["options", "opts"]
        .iter()
        .find_map(|k| metadata.get(*k))
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let kind = metadata.get("lifelapse_kind").and_then(|k| k.parse().ok());
    Ok((tensors, options, kind))
}

fn read_torch(bytes: &[u8]) -> Result<Raw, ImportError> {
    let archive = TorchArchive::read(bytes)?;
    let (tensors, plain) = archive.flatten()?;
    let options = plain
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("opts.")?.to_string(), v.clone())))
        .collect();
    Ok((tensors, options, None))
}

/// NVIDIA stylegan2-ada-pytorch's network pickle: its `G_ema` generator renamed to the
/// rosinality layout lifelapse reads.
///
/// The two implementations compute the same function with differently named tensors:
/// `mapping.fc{i}` ↔ `style.{i+1}` (both store weights divided by the learning-rate multiplier),
/// `mapping.w_avg` ↔ `latent_avg`, `synthesis.b4.const` ↔ `input.input`, per block
/// `conv0`/`conv1`/`torgb` ↔ `convs.{2k}`/`convs.{2k+1}`/`to_rgbs.{k}` (`b4.conv1`/`b4.torgb` ↔
/// `conv1`/`to_rgb1`), `affine` ↔ `modulation`, `noise_strength` ↔ `noise.weight`,
/// `noise_const` ↔ `noises.noise_{i}`. Demodulation is invariant to the weights' scale, and the
/// to-RGB scale is applied to the style in one and to the weight in the other, so no value
/// changes, only shapes gain their leading 1s. NVIDIA's optional activation clamp
/// (`conv_clamp`, ±256, for its fp16 layers) is not applied.
fn read_ada_pickle(bytes: &[u8], path: &Path) -> Result<Raw, ImportError> {
    let archive = TorchArchive::read_pickle(bytes)?;
    let (tensors, _) = archive.flatten()?;
    let g: BTreeMap<&str, &Tensor> = tensors
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("G_ema.")?, v)))
        .collect();
    if g.is_empty() {
        return Err(ImportError::BarePickle {
            path: path.to_path_buf(),
        });
    }
    if g.contains_key("mapping.embed.weight") {
        return Err(ImportError::Unrecognised(
            "a class-conditional generator; lifelapse needs an unconditional face generator".into(),
        ));
    }
    if g.contains_key("synthesis.input.freqs") {
        return Ok(stylegan3_from_pickle(&archive.root, &g));
    }
    let get = |name: &str| -> Result<Tensor, ImportError> {
        g.get(name)
            .map(|t| t.shallow_clone())
            .ok_or_else(|| TensorSetError::Missing(format!("G_ema.{name}")).into())
    };
    let mut out = BTreeMap::new();
    let mut put = |name: String, t: Tensor| {
        out.insert(format!("g_ema.{name}"), t);
    };
    let mut fc = 0;
    while g.contains_key(format!("mapping.fc{fc}.weight").as_str()) {
        put(
            format!("style.{}.weight", fc + 1),
            get(&format!("mapping.fc{fc}.weight"))?,
        );
        put(
            format!("style.{}.bias", fc + 1),
            get(&format!("mapping.fc{fc}.bias"))?,
        );
        fc += 1;
    }
    put(
        "input.input".into(),
        get("synthesis.b4.const")?.unsqueeze(0),
    );
    // Weight and style affine of one modulated convolution, common to both layer kinds.
    let modulated = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| {
        put(
            format!("{dst}.conv.weight"),
            get(&format!("{src}.weight"))?.unsqueeze(0),
        );
        put(
            format!("{dst}.conv.modulation.weight"),
            get(&format!("{src}.affine.weight"))?,
        );
        put(
            format!("{dst}.conv.modulation.bias"),
            get(&format!("{src}.affine.bias"))?,
        );
        Ok::<(), ImportError>(())
    };
    let layer = |src: &str, dst: &str, noise: usize, put: &mut dyn FnMut(String, Tensor)| {
        modulated(src, dst, put)?;
        put(
            format!("{dst}.noise.weight"),
            get(&format!("{src}.noise_strength"))?.reshape([1]),
        );
        put(format!("{dst}.activate.bias"), get(&format!("{src}.bias"))?);
        let n = get(&format!("{src}.noise_const"))?;
        put(format!("noises.noise_{noise}"), n.unsqueeze(0).unsqueeze(0));
        Ok::<(), ImportError>(())
    };
    let to_rgb = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| {
        modulated(src, dst, put)?;
        put(
            format!("{dst}.bias"),
            get(&format!("{src}.bias"))?.reshape([1, 3, 1, 1]),
        );
        Ok::<(), ImportError>(())
    };
    layer("synthesis.b4.conv1", "conv1", 0, &mut put)?;
    to_rgb("synthesis.b4.torgb", "to_rgb1", &mut put)?;
    let mut k = 0;
    while g.contains_key(format!("synthesis.b{}.conv0.weight", 8 << k).as_str()) {
        let block = format!("synthesis.b{}", 8 << k);
        layer(
            &format!("{block}.conv0"),
            &format!("convs.{}", 2 * k),
            2 * k + 1,
            &mut put,
        )?;
        layer(
            &format!("{block}.conv1"),
            &format!("convs.{}", 2 * k + 1),
            2 * k + 2,
            &mut put,
        )?;
        to_rgb(&format!("{block}.torgb"), &format!("to_rgbs.{k}"), &mut put)?;
        k += 1;
    }
    if let Ok(avg) = get("mapping.w_avg") {
        out.insert("latent_avg".into(), avg);
    }
    Ok((out, serde_json::Map::new(), Some(CheckpointKind::Stylegan2)))
}

/// NVIDIA's StyleGAN3 pickle: the `G_ema` tensors keep their names (the StyleGAN3 generator
/// reads NVIDIA's), `mapping.w_avg` is the average latent, and the generator's constructor
/// arguments (`_init_kwargs` in the module's pickled state) become the options its design is
/// read from. The module source the pickle embeds is never looked at.
fn stylegan3_from_pickle(root: &torch_pickle::Value, g: &BTreeMap<&str, &Tensor>) -> Raw {
    let tensors: BTreeMap<String, Tensor> = g
        .iter()
        .map(|(k, v)| (format!("g_ema.{k}"), v.shallow_clone()))
        .chain(
            g.get("mapping.w_avg")
                .map(|t| ("latent_avg".to_string(), t.shallow_clone())),
        )
        .collect();
    let mut options = serde_json::Map::new();
    if let Some(kwargs) = persistent_state(root, "G_ema")
        .and_then(|state| state.get("_init_kwargs"))
        .and_then(|kwargs| kwargs.to_json())
    {
        options.insert("init_kwargs".into(), kwargs);
    }
    (tensors, options, Some(CheckpointKind::Stylegan3))
}

/// The pickled state of a module NVIDIA's `persistence` wrote: the `state` entry of the
/// metadata it is rebuilt from.
fn persistent_state(root: &torch_pickle::Value, key: &str) -> Option<torch_pickle::Value> {
    match root.get(key)? {
        torch_pickle::Value::Object(obj) => {
            let obj = obj.borrow();
            obj.state
                .clone()
                .or_else(|| obj.args.first().and_then(|meta| meta.get("state")))
        }
        _ => None,
    }
}

/// Reads a checkpoint file; `asked` (from `--kind`) settles an encoder whose type the file does
/// not state, and is checked against what the file holds.
pub fn open(path: &Path, asked: Option<CheckpointKind>) -> Result<Checkpoint, ImportError> {
    let bytes = read_bytes(path)?;
    let (tensors, options, stated) = if bytes.starts_with(b"PK\x03\x04") {
        read_torch(&bytes)?
    } else if bytes.first() == Some(&0x80) {
        read_ada_pickle(&bytes, path)?
    } else if bytes.len() > 9 && bytes[8] == b'{' {
        read_safetensors(&bytes)?
    } else {
        return Err(ImportError::UnknownFormat(path.to_path_buf()));
    };
    drop(bytes);
    canonical(tensors, options, stated, asked, true)
}

/// `build_to_check`: build the networks once on the CPU so a file that cannot run is refused
/// when it is read. Files whose sha256 matches the manifest passed that check at import.
fn canonical(
    tensors: BTreeMap<String, Tensor>,
    options: serde_json::Map<String, serde_json::Value>,
    stated: Option<CheckpointKind>,
    asked: Option<CheckpointKind>,
    build_to_check: bool,
) -> Result<Checkpoint, ImportError> {
    // Checkpoints wrap their state dict in `state_dict.`; imported files do not.
    let all = TensorSet::new(
        tensors
            .into_iter()
            .map(|(k, v)| match k.strip_prefix("state_dict.") {
                Some(rest) => (rest.to_string(), v),
                None => (k, v),
            })
            .collect(),
    );
    let latent_avg = all.get("latent_avg").ok().map(Tensor::shallow_clone);
    let (generator, encoder) = if all.has_prefix("encoder") {
        (all.subset("decoder"), Some(all.subset("encoder")))
    } else if all.has_prefix("g_ema") {
        (all.subset("g_ema"), None)
    } else if all.contains("style.1.weight") || all.contains("synthesis.input.freqs") {
        (all.clone(), None)
    } else {
        return Err(ImportError::Unrecognised(
            "no StyleGAN generator (g_ema.*) or encoder (state_dict.encoder.*) inside".into(),
        ));
    };
    let generator_shape = Shape::from_tensors(&generator, &options)?;
    let found = match &encoder {
        None => match generator_shape.family() {
            Family::Stylegan2 => CheckpointKind::Stylegan2,
            Family::Stylegan3 => CheckpointKind::Stylegan3,
        },
        Some(encoder) => {
            let by_options = match options.get("encoder_type").and_then(|v| v.as_str()) {
                Some("GradualStyleEncoder") => Some(CheckpointKind::Psp),
                Some("Encoder4Editing") => Some(CheckpointKind::E4e),
                Some("BackboneEncoder") => Some(CheckpointKind::Restyle),
                Some(other) => {
                    return Err(ImportError::Unrecognised(format!(
                        "encoder type {other}: lifelapse reads GradualStyleEncoder (pSp), Encoder4Editing (e4e) and BackboneEncoder (ReStyle-pSp)"
                    )))
                }
                None => None,
            };
            // ReStyle's encoder reads the photo and a reconstruction: 6 input channels.
            let by_shape = encoder
                .shape("input_layer.0.weight")
                .ok()
                .filter(|s| s.get(1) == Some(&6))
                .map(|_| CheckpointKind::Restyle);
            stated
                .or(by_options)
                .or(by_shape)
                .or(asked.filter(|k| k.has_encoder()))
                .ok_or_else(|| {
                    ImportError::Unrecognised(
                        "the checkpoint holds an encoder but does not say which; pass --kind psp, e4e or restyle".into(),
                    )
                })?
        }
    };
    if let Some(asked) = asked {
        if asked != found {
            return Err(ImportError::WrongKind { found, asked });
        }
    }
    if build_to_check {
        Generator::new(&generator, &generator_shape, Device::Cpu, Kind::Float)?;
    }
    let checkpoint = Checkpoint {
        kind: found,
        generator,
        generator_shape,
        encoder,
        latent_avg,
        options,
    };
    if checkpoint.encoder.is_some() {
        let n_latent = checkpoint.generator_shape.n_latent();
        let styles = checkpoint
            .encoder
            .as_ref()
            .map_or(0, |e| e.count_indexed("styles"));
        if styles != n_latent {
            return Err(ImportError::Unrecognised(format!(
                "the encoder predicts {styles} styles but its generator takes {n_latent}"
            )));
        }
        if build_to_check {
            checkpoint.build_encoder(Device::Cpu, Kind::Float)?;
        }
    }
    Ok(checkpoint)
}

fn stylegan2() -> Family {
    Family::Stylegan2
}

/// One imported checkpoint, as its manifest entry records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImportedModel {
    pub file: String,
    pub kind: CheckpointKind,
    /// The generator's family (entries written before StyleGAN3 was read lack it: StyleGAN2).
    #[serde(default = "stylegan2")]
    pub family: Family,
    pub source: String,
    pub resolution: i64,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ImportManifest {
    #[serde(default)]
    model: Vec<ImportedModel>,
}

fn dtype_of(kind: Kind) -> safetensors::Dtype {
    use safetensors::Dtype as D;
    match kind {
        Kind::Half => D::F16,
        Kind::BFloat16 => D::BF16,
        Kind::Double => D::F64,
        Kind::Int64 => D::I64,
        Kind::Int => D::I32,
        Kind::Uint8 => D::U8,
        Kind::Bool => D::BOOL,
        _ => D::F32,
    }
}

struct OwnedView {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &OwnedView {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn owned_view(t: &Tensor) -> Result<OwnedView, ImportError> {
    let t = t.to_device(Device::Cpu).contiguous();
    let kind = match t.kind() {
        Kind::Float
        | Kind::Half
        | Kind::BFloat16
        | Kind::Double
        | Kind::Int64
        | Kind::Int
        | Kind::Uint8
        | Kind::Bool => t.kind(),
        _ => Kind::Float,
    };
    let t = t.to_kind(kind);
    let numel = t.numel();
    let mut data = vec![0u8; numel * kind.elt_size_in_bytes()];
    t.f_copy_data_u8(&mut data, numel)
        .map_err(ImportError::Tensor)?;
    Ok(OwnedView {
        dtype: dtype_of(kind),
        shape: t.size().iter().map(|&d| d as usize).collect(),
        data,
    })
}

/// Named tensors and string metadata as the bytes of one safetensors file: the same bytes for
/// the same tensors and metadata, so an import's sha256 says which checkpoint it came from.
///
/// safetensors writes its metadata from a `HashMap`, in an order that changes from run to run;
/// the header is written again with every object's keys in order. The same keys and values in
/// compact JSON take the same length, so the header's padding and the data offsets stand.
fn serialize_safetensors(
    views: &[(String, OwnedView)],
    metadata: BTreeMap<String, String>,
) -> Result<Vec<u8>, ImportError> {
    let metadata: HashMap<String, String> = metadata.into_iter().collect();
    let mut bytes =
        safetensors::serialize(views.iter().map(|(n, v)| (n.clone(), v)), &Some(metadata))
            .map_err(ImportError::SafetensorsFormat)?;
    let damaged = |what: &str| ImportError::Safetensors(format!("the header just written {what}"));
    let (len, _) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(ImportError::SafetensorsFormat)?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len])
        .map_err(|e| damaged(&format!("is not JSON ({e})")))?;
    let sorted = serde_json::to_vec(&SortedJson(&header)).map_err(|e| damaged(&e.to_string()))?;
    if sorted.len() > len {
        return Err(damaged("grew when sorted"));
    }
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..8 + len].fill(b' ');
    Ok(bytes)
}

/// A JSON value serialised with every object's keys in order, whatever order the parser kept.
struct SortedJson<'a>(&'a serde_json::Value);

impl Serialize for SortedJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<&String, SortedJson> =
                    map.iter().map(|(k, v)| (k, SortedJson(v))).collect();
                sorted.serialize(serializer)
            }
            serde_json::Value::Array(items) => {
                let items: Vec<SortedJson> = items.iter().map(SortedJson).collect();
                items.serialize(serializer)
            }
            other => other.serialize(serializer),
        }
    }
}

/// Writes named tensors (and string metadata) as one safetensors file, atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(&str, &Tensor)],
    metadata: BTreeMap<String, String>,
) -> Result<u64, ImportError> {
    let views = tensors
        .iter()
        .map(|(n, t)| Ok((n.to_string(), owned_view(t)?)))
        .collect::<Result<Vec<_>, ImportError>>()?;
    let bytes = serialize_safetensors(&views, metadata)?;
    write_atomically(path, &bytes).map_err(|e| ImportError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(bytes.len() as u64)
}

/// Reads every tensor of a safetensors file.
pub fn read_safetensors_file(path: &Path) -> Result<BTreeMap<String, Tensor>, ImportError> {
    Ok(read_safetensors(&read_bytes(path)?)?.0)
}

/// Opens `path`: an imported file (checked against its directory's manifest) or an original
/// checkpoint.
pub fn open_any(path: &Path, asked: Option<CheckpointKind>) -> Result<Checkpoint, ImportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    if let (Ok(models), Some(name)) = (imported(dir), name) {
        if let Some(entry) = models.iter().find(|m| m.file == name) {
            return open_imported(dir, entry);
        }
    }
    open(path, asked)
}

/// Writes `checkpoint` in canonical form into `dir` (created if needed) as `<stem>.<kind>.safetensors`,
/// records it in `dir/MANIFEST.toml`, and returns the entry.
pub fn save(
    checkpoint: &Checkpoint,
    source: &Path,
    dir: &Path,
) -> Result<ImportedModel, ImportError> {
    let write_err = |path: &Path, e: FileCause| ImportError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e.into()))?;
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let file = format!("{stem}.{}.safetensors", checkpoint.kind);
    let path = dir.join(&file);

    let mut views: Vec<(String, OwnedView)> = Vec::new();
    let (gen_prefix, enc_prefix) = if checkpoint.kind.has_encoder() {
        ("decoder", "encoder")
    } else {
        ("g_ema", "")
    };
    for (name, t) in checkpoint.generator.iter() {
        views.push((format!("{gen_prefix}.{name}"), owned_view(t)?));
    }
    if let Some(encoder) = &checkpoint.encoder {
        for (name, t) in encoder.iter() {
            views.push((format!("{enc_prefix}.{name}"), owned_view(t)?));
        }
    }
    if let Some(avg) = &checkpoint.latent_avg {
        views.push(("latent_avg".into(), owned_view(avg)?));
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("lifelapse_kind".to_string(), checkpoint.kind.to_string());
    metadata.insert(
        "options".to_string(),
        serde_json::Value::Object(checkpoint.options.clone()).to_string(),
    );
    metadata.insert(
        "resolution".to_string(),
        checkpoint.resolution().to_string(),
    );
    let bytes = serialize_safetensors(&views, metadata)?;
    write_atomically(&path, &bytes).map_err(|e| write_err(&path, e.into()))?;

    let entry = ImportedModel {
        file,
        kind: checkpoint.kind,
        family: checkpoint.family(),
        source: source
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        resolution: checkpoint.resolution(),
        sha256: crate::leaves::hash::content_hash(&bytes),
        bytes: bytes.len() as u64,
    };
    let manifest_path = dir.join("MANIFEST.toml");
    let mut manifest = read_manifest(dir)?;
    manifest.model.retain(|m| m.file != entry.file);
    manifest.model.push(entry.clone());
    let text = toml::to_string(&manifest).map_err(|e| write_err(&manifest_path, e.into()))?;
    let text = format!("# Checkpoints imported with `lifelapse import-weights`.\n\n{text}");
    write_atomically(&manifest_path, text.as_bytes())
        .map_err(|e| write_err(&manifest_path, e.into()))?;
    Ok(entry)
}

/// Replaces `path` only once `bytes` are on disk, so an interrupted import leaves the old file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn read_manifest(dir: &Path) -> Result<ImportManifest, ImportError> {
    let path = dir.join("MANIFEST.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ImportError::Read {
            path,
            source: e.into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ImportManifest::default()),
        Err(e) => Err(ImportError::Read {
            path,
            source: e.into(),
        }),
    }
}

/// The checkpoints imported into `dir`, newest last.
pub fn imported(dir: &Path) -> Result<Vec<ImportedModel>, ImportError> {
    Ok(read_manifest(dir)?.model)
}

/// Opens an imported checkpoint after checking its sha256 against the manifest.
pub fn open_imported(dir: &Path, entry: &ImportedModel) -> Result<Checkpoint, ImportError> {
    let path = dir.join(&entry.file);
    let bytes = read_bytes(&path)?;
    let actual = crate::leaves::hash::content_hash(&bytes);
    if actual != entry.sha256 {
        return Err(ImportError::Checksum {
            path,
            actual,
            expected: entry.sha256.clone(),
        });
    }
    let (tensors, options, stated) = read_safetensors(&bytes)?;
    canonical(tensors, options, stated, Some(entry.kind), false)
}
