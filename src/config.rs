//! `config.toml` plus `LIFELAPSE_<SECTION>_<KEY>` environment overrides. Secrets (bot tokens,
//! API keys) come only from the environment and never appear in `Debug` output or logs.

pub use crate::video::palette::Dither;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every setting of the program. The defaults here are the documented defaults of `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: GeneralConfig,
    pub album: AlbumConfig,
    pub faces: FacesConfig,
    pub render: RenderConfig,
    pub gif: GifConfig,
    pub crawl: CrawlConfig,
    pub chat: ChatConfig,
    pub cluster: ClusterConfig,
    pub telegram: TelegramConfig,
    pub discord: DiscordConfig,
}

/// The Discord bot; it runs when LIFELAPSE_DISCORD_TOKEN is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// The API's base URL; empty: Discord itself.
    pub api_url: String,
}

/// The chat service (`lifelapse serve`), whatever the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// A session's photos, faces and videos are deleted this long after its last change.
    pub retention_hours: f64,
    /// Renders waiting at most (over all chats); one more is refused with a notice.
    pub queue_capacity: usize,
    /// Renders run at once.
    pub render_workers: usize,
    /// Health (`/health`) and Prometheus metrics (`/metrics`) on this address; empty: off.
    pub metrics_addr: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            retention_hours: 24.0,
            queue_capacity: 20,
            render_workers: 1,
            metrics_addr: "127.0.0.1:9464".into(),
        }
    }
}

/// Running beyond one machine: sessions, files and jobs on a NATS server with JetStream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The NATS server (`nats://host:4222`); empty: one process, sessions in sled.
    pub nats_url: String,
    /// Seconds a job may go without word from its worker before another worker gets it (a
    /// working worker says it is alive three times in that time).
    pub ack_wait_s: u32,
    /// Deliveries of one job before it is given up and its user told.
    pub max_deliver: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            nats_url: String::new(),
            ack_wait_s: 30,
            max_deliver: 3,
        }
    }
}

/// The Telegram bot; it runs when LIFELAPSE_TELEGRAM_TOKEN is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// The Bot API's base URL.
    pub api_url: String,
    /// Long-polling wait, in seconds.
    pub poll_timeout_s: u32,
    /// Largest file the bot uploads, in MB (the Bot API's limit is 50).
    pub max_upload_mb: f64,
    /// The public HTTPS URL Telegram posts updates to; empty: long polling.
    pub webhook_url: String,
    /// Where the webhook's requests arrive (behind the TLS proxy that serves `webhook_url`).
    pub webhook_listen: String,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            api_url: "https://api.telegram.org".into(),
            poll_timeout_s: 25,
            max_upload_mb: 50.0,
            webhook_url: String::new(),
            webhook_listen: "127.0.0.1:8443".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlConfig {
    /// Wikidata's base URL (its API is `<url>/w/api.php`).
    pub wikidata_url: String,
    /// Wikimedia Commons' base URL.
    pub commons_url: String,
    /// The keyed image search's endpoint (used only with LIFELAPSE_CRAWL_SEARCH_API_KEY and
    /// LIFELAPSE_CRAWL_SEARCH_ENGINE_ID set).
    pub search_url: String,
    /// The Brave Search API (image search), used when LIFELAPSE_CRAWL_BRAVE_API_KEY is set.
    pub brave_url: String,
    /// The keyless Openverse image search of openly licensed photos (its API is
    /// `<url>/v1/images/`); empty leaves it out.
    pub openverse_url: String,
    /// host:port list (comma-separated) exempt from the private-address refusal; for tests.
    pub allow_hosts: String,
    /// How the people running this can be reached (an email address or a web page). Sent in
    /// the User-Agent, as Wikimedia's policy asks of every client; without it no name is
    /// searched there.
    pub contact: String,
    /// Photos kept per crawl.
    pub max_photos: usize,
    /// Time limit of one download, in seconds.
    pub timeout_s: f64,
    /// Largest download, in MB.
    pub max_mb: u64,
    /// Downloads at once, overall and per host.
    pub concurrency: usize,
    pub per_host: usize,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        Self {
            wikidata_url: "https://www.wikidata.org".into(),
            commons_url: "https://commons.wikimedia.org".into(),
            search_url: "https://www.googleapis.com/customsearch/v1".into(),
            openverse_url: "https://api.openverse.org".into(),
            brave_url: "https://api.search.brave.com".into(),
            allow_hosts: String::new(),
            contact: String::new(),
            max_photos: 40,
            timeout_s: 20.0,
            max_mb: 15,
            concurrency: 8,
            per_host: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneralConfig {
    /// Where lifelapse keeps its state; empty means `$XDG_DATA_HOME/lifelapse` (or
    /// `~/.local/share/lifelapse`). `LIFELAPSE_DATA_DIR` overrides it too.
    pub data_dir: String,
    /// `auto` (CUDA when available), `cpu` or `cuda:N`.
    pub device: String,
    /// Log filter in `tracing` syntax, e.g. `info` or `lifelapse=debug`.
    pub log: String,
}

impl Default for GeneralConfig {
    fn default() -> Self {
        Self {
            data_dir: String::new(),
            device: "auto".into(),
            log: "warn".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlbumConfig {
    /// Files larger than this are refused before they are read.
    pub max_file_mb: u64,
    /// Images with more pixels than this are refused before they are decoded (decompression bombs).
    pub max_megapixels: f64,
    /// Photos past this count in one album are refused, each with its own message.
    pub max_photos: usize,
    /// Long side, in pixels, of the copy kept after decoding; the full-size image is dropped.
    pub working_size: u32,
    /// Two photos whose 128-bit difference hashes differ in at most this many bits are near-duplicates.
    pub near_duplicate_bits: u32,
}

impl Default for AlbumConfig {
    fn default() -> Self {
        Self {
            max_file_mb: 50,
            max_megapixels: 64.0,
            max_photos: 500,
            working_size: 1024,
            near_duplicate_bits: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesConfig {
    /// Side of the grid the detector sees (a multiple of 32): larger finds smaller faces, slower.
    pub detect_size: u32,
    /// Detector confidence needed to report a face, 0–1.
    pub detect_score: f32,
    /// Identity distance from the album's person above which an adult's face is flagged as an
    /// intruder (a child's may be further: `face::identity::ChildAllowance`).
    pub flag_distance: f32,
    /// Albums with fewer faces than this flag nobody.
    pub min_faces_to_flag: usize,
    /// Faces whose quality score (0–1: sharp, frontal, eyes open, large enough) is lower are left out.
    pub min_quality: f32,
}

impl Default for FacesConfig {
    fn default() -> Self {
        Self {
            detect_size: 608,
            detect_score: 0.5,
            flag_distance: 0.50,
            min_faces_to_flag: 4,
            min_quality: 0.2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// Side of the square output video in pixels (256, 512 or 1024).
    pub size: u32,
    /// `age`: frames between two photos in proportion to their age gap; `fixed`: always
    /// `frames_between`.
    pub spacing: SpacingKind,
    /// Frames between two photos with `fixed` spacing (and with `age` spacing where an age is
    /// unknown).
    pub frames_between: u32,
    /// With `age` spacing: frames per year of age gap, …
    pub frames_per_year: f32,
    /// … at least this many between two photos, …
    pub min_between: u32,
    /// … at most this many, …
    pub max_between: u32,
    /// … and at most this many generated frames in the whole video.
    pub max_frames: u32,
    /// Slow in and out of each photo instead of moving at constant speed.
    pub ease: bool,
    /// Caption the video with the age, counting up between photos (needs known ages).
    pub labels: bool,
    /// Strength γ of the real photo shown near its keyframe: weight γ(1+cos 2πα)/2.
    pub gamma: f32,
    /// Frames per second of the output video.
    pub fps: f32,
    /// Frames the first and last photo are held still.
    pub hold_frames: u32,
    /// `morph` (landmark warping, the default), `pixel` (cross-fade) or `stylegan` (W+ codes
    /// from an imported pSp/e4e checkpoint, interpolated and generated).
    pub renderer: RendererKind,
    /// What the frames show behind the person: `blur` (the photos' backgrounds blurred, the
    /// default), `plain` (one muted colour) or `keep` (the photos' own backgrounds).
    pub background: Background,
    /// stylegan renderer: which imported encoder checkpoint, by its generator: `auto` (the
    /// newest), `stylegan2` or `stylegan3`.
    pub generator: GeneratorChoice,
    /// stylegan renderer with a ReStyle encoder: rounds of refinement, 1–20 (0: the reference's
    /// default, 3 with StyleGAN3 and 5 with StyleGAN2).
    pub encoder_iterations: u32,
    /// stylegan renderer: optimisation steps per photo's code against the photo (0: off).
    pub refine: u32,
    /// stylegan renderer: device memory one generator batch may take, in megabytes; it sets
    /// how many frames are generated at once.
    pub engine_memory_mb: u64,
    /// `lifelapse serve`: load the imported generative checkpoint at start instead of on the
    /// first stylegan render, so that render does not wait for it.
    pub load_generative_at_start: bool,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            size: 512,
            spacing: SpacingKind::Age,
            frames_between: 12,
            frames_per_year: 3.0,
            min_between: 6,
            max_between: 36,
            max_frames: 600,
            ease: true,
            labels: false,
            gamma: 0.5,
            fps: 12.0,
            hold_frames: 6,
            renderer: RendererKind::Morph,
            background: Background::default(),
            generator: GeneratorChoice::Auto,
            encoder_iterations: 0,
            refine: 0,
            engine_memory_mb: 2048,
            load_generative_at_start: false,
        }
    }
}

/// How frames between photos are made: one type for the config file, the command line and the
/// chat's settings.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum RendererKind {
    /// Plain cross-fade (the baseline).
    Pixel,
    /// Faces warped along their landmarks, then blended.
    Morph,
    /// Codes in StyleGAN2's W+ space, interpolated and generated (needs imported weights).
    Stylegan,
}

impl RendererKind {
    pub const ALL: [Self; 3] = [Self::Pixel, Self::Morph, Self::Stylegan];

    pub fn name(self) -> &'static str {
        match self {
            Self::Pixel => "pixel",
            Self::Morph => "morph",
            Self::Stylegan => "stylegan",
        }
    }
}

impl std::fmt::Display for RendererKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RendererKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("renderer {s:?} is unknown; use pixel, morph or stylegan"))
    }
}

/// What the frames show behind the person (see [`crate::lapse::backdrop`]): one type for the
/// config file, the command line and the chat's settings.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Background {
    /// The photos' own backgrounds, cross-faded.
    Keep,
    /// The photos' backgrounds with the person taken out, blurred, cross-faded: the default,
    /// chosen by measurement (docs/quality.md).
    #[default]
    Blur,
    /// One muted colour for the whole video.
    Plain,
}

impl Background {
    pub const ALL: [Self; 3] = [Self::Blur, Self::Plain, Self::Keep];

    pub fn name(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Blur => "blur",
            Self::Plain => "plain",
        }
    }
}

impl std::fmt::Display for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Background {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("background {s:?} is unknown; use blur, plain or keep"))
    }
}

/// Which imported encoder checkpoint the stylegan renderer uses, by its generator's family: one
/// type for the config file, the command line and the chat's settings.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorChoice {
    /// The newest imported one.
    #[default]
    Auto,
    /// The newest with a StyleGAN2 generator (pSp, e4e, ReStyle).
    Stylegan2,
    /// The newest with a StyleGAN3 generator (ReStyle).
    Stylegan3,
}

impl GeneratorChoice {
    pub const ALL: [Self; 3] = [Self::Auto, Self::Stylegan2, Self::Stylegan3];

    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Stylegan2 => "stylegan2",
            Self::Stylegan3 => "stylegan3",
        }
    }
}

impl std::fmt::Display for GeneratorChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for GeneratorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("generator {s:?} is unknown; use auto, stylegan2 or stylegan3"))
    }
}

/// How the frames between two photos are counted: one type for the config file and the command
/// line (the chat always uses `fixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SpacingKind {
    /// In proportion to the age gap between the two photos.
    Age,
    /// Always `frames_between`.
    Fixed,
}

/// What one render may choose over the config: the command line's flags and the chat's
/// settings are both one of these, so the overlay is written once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOverrides {
    pub size: Option<u32>,
    /// Given without `spacing`, it means fixed spacing.
    pub frames_between: Option<u32>,
    pub spacing: Option<SpacingKind>,
    pub gamma: Option<f32>,
    /// Caption the frames with the age (only ever switches captions on).
    pub labels: bool,
    pub fps: Option<f32>,
    pub renderer: Option<RendererKind>,
    pub background: Option<Background>,
    pub generator: Option<GeneratorChoice>,
    pub encoder_iterations: Option<u32>,
    pub refine: Option<u32>,
}

impl RenderOverrides {
    /// The config with these choices over its `[render]` settings, checked as a whole.
    pub fn apply(&self, config: &Config) -> Result<Config, ConfigError> {
        let mut config = config.clone();
        let r = &mut config.render;
        r.size = self.size.unwrap_or(r.size);
        r.frames_between = self.frames_between.unwrap_or(r.frames_between);
        r.spacing = match (self.spacing, self.frames_between) {
            (Some(kind), _) => kind,
            (None, Some(_)) => SpacingKind::Fixed,
            (None, None) => r.spacing,
        };
        r.gamma = self.gamma.unwrap_or(r.gamma);
        r.labels |= self.labels;
        r.fps = self.fps.unwrap_or(r.fps);
        r.renderer = self.renderer.unwrap_or(r.renderer);
        r.background = self.background.unwrap_or(r.background);
        r.generator = self.generator.unwrap_or(r.generator);
        r.encoder_iterations = self.encoder_iterations.unwrap_or(r.encoder_iterations);
        r.refine = self.refine.unwrap_or(r.refine);
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GifConfig {
    /// Palette size, 2 to 256; one palette serves the whole video.
    pub colors: u32,
    /// `ordered` (stable from frame to frame, smaller files), `floyd-steinberg` or `none`.
    pub dither: Dither,
    /// How often the video repeats; 0 loops forever.
    pub loop_count: u16,
}

impl Default for GifConfig {
    fn default() -> Self {
        Self {
            colors: 256,
            dither: Dither::Ordered,
            loop_count: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name}={value:?} is not a valid {expected}")]
    Env {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("config file {path} holds a secret ({key}); secrets are read only from the environment (LIFELAPSE_…)")]
    SecretInFile { path: PathBuf, key: String },
    #[error("setting {key} = {value}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Environment variable naming another config file.
pub const CONFIG_ENV: &str = "LIFELAPSE_CONFIG";
/// Environment variable naming the data directory (same as `LIFELAPSE_GENERAL_DATA_DIR`).
pub const DATA_DIR_ENV: &str = "LIFELAPSE_DATA_DIR";

/// Key names that mark a secret: they may only come from the environment.
const SECRET_KEY_WORDS: [&str; 4] = ["token", "api_key", "secret", "password"];

impl Config {
    /// Loads the config file (explicit path, else `LIFELAPSE_CONFIG`, else `./config.toml` when it
    /// exists, else built-in defaults), then applies environment overrides.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(explicit, |name| std::env::var(name).ok())
    }

    /// Like [`Config::load`] with the environment given as a function, so tests need no globals.
    pub fn load_with_env(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_ENV).map(PathBuf::from))
            .or_else(|| {
                let local = PathBuf::from("config.toml");
                local.is_file().then_some(local)
            });
        let mut table =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Parse {
                path: PathBuf::from("<defaults>"),
                message: e.to_string(),
            })?;
        if let Some(path) = &path {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Parse {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
            reject_secrets(path, &file)?;
            merge(&mut table, file);
        }
        let from_env = apply_env(&mut table, &env)?;
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            let message = e.to_string();
            // A value the environment set is that variable's fault, not the file's.
            match from_env
                .into_iter()
                .find(|(key, _, _)| message.contains(&format!("`{key}`")))
            {
                Some((_, name, value)) => ConfigError::Env {
                    name,
                    value,
                    expected: "value for this setting (see config.toml)",
                },
                None => ConfigError::Parse {
                    path: path.unwrap_or_else(|| PathBuf::from("<defaults>")),
                    message,
                },
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks value ranges; call again after changing settings in code (command-line flags).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.chat;
        if c.retention_hours.is_nan() || c.retention_hours <= 0.0 {
            return Err(invalid(
                "chat.retention_hours",
                c.retention_hours,
                "must be more than 0",
            ));
        }
        if c.queue_capacity == 0 || c.render_workers == 0 {
            return Err(invalid(
                "chat.queue_capacity",
                format!("{}/{}", c.queue_capacity, c.render_workers),
                "queue_capacity and render_workers must be at least 1",
            ));
        }
        if self.telegram.max_upload_mb.is_nan() || self.telegram.max_upload_mb <= 0.0 {
            return Err(invalid(
                "telegram.max_upload_mb",
                self.telegram.max_upload_mb,
                "must be more than 0",
            ));
        }
        let r = &self.render;
        if !(16..=2048).contains(&r.size) {
            return Err(invalid(
                "render.size",
                r.size,
                "must be between 16 and 2048",
            ));
        }
        if r.encoder_iterations > 20 {
            return Err(invalid(
                "render.encoder_iterations",
                r.encoder_iterations,
                "must be at most 20 (0: the encoder's default)",
            ));
        }
        if !(0.0..=1.0).contains(&r.gamma) {
            return Err(invalid("render.gamma", r.gamma, "must be between 0 and 1"));
        }
        if !(r.fps > 0.0 && r.fps <= 100.0) {
            return Err(invalid(
                "render.fps",
                r.fps,
                "must be above 0 and at most 100",
            ));
        }
        if !(2..=256).contains(&self.gif.colors) {
            return Err(invalid(
                "gif.colors",
                self.gif.colors,
                "must be between 2 and 256",
            ));
        }
        if !(32..=2048).contains(&self.faces.detect_size)
            || !self.faces.detect_size.is_multiple_of(32)
        {
            return Err(invalid(
                "faces.detect_size",
                self.faces.detect_size,
                "must be a multiple of 32 between 32 and 2048",
            ));
        }
        if !(self.faces.detect_score > 0.0 && self.faces.detect_score < 1.0) {
            return Err(invalid(
                "faces.detect_score",
                self.faces.detect_score,
                "must be above 0 and below 1",
            ));
        }
        if self.album.working_size < 64 {
            return Err(invalid(
                "album.working_size",
                self.album.working_size,
                "must be at least 64",
            ));
        }
        if self.album.max_megapixels <= 0.0 {
            return Err(invalid(
                "album.max_megapixels",
                self.album.max_megapixels,
                "must be positive",
            ));
        }
        Ok(())
    }

    /// The data directory, resolved: `LIFELAPSE_DATA_DIR` was already folded into `general.data_dir`.
    pub fn data_dir(&self) -> PathBuf {
        if !self.general.data_dir.is_empty() {
            return PathBuf::from(&self.general.data_dir);
        }
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(xdg).join("lifelapse");
        }
        match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".local/share/lifelapse"),
            None => PathBuf::from(".lifelapse"),
        }
    }
}

fn invalid(key: &'static str, value: impl ToString, reason: &'static str) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.to_string(),
        reason,
    }
}

fn reject_secrets(path: &Path, file: &toml::Table) -> Result<(), ConfigError> {
    for (section, value) in file {
        let keys: Vec<String> = match value {
            toml::Value::Table(t) => t.keys().map(|k| format!("{section}.{k}")).collect(),
            _ => vec![section.clone()],
        };
        for key in keys {
            let lower = key.to_ascii_lowercase();
            if SECRET_KEY_WORDS.iter().any(|w| lower.ends_with(w)) {
                return Err(ConfigError::SecretInFile {
                    path: path.to_path_buf(),
                    key,
                });
            }
        }
    }
    Ok(())
}

/// Overlays `file` onto `base` one section deep; unknown keys stay and are refused on deserialising.
fn merge(base: &mut toml::Table, file: toml::Table) {
    for (key, value) in file {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_section)), toml::Value::Table(section)) => {
                base_section.extend(section);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// The environment variable that overrides `[section] key`.
pub fn env_name(section: &str, key: &str) -> String {
    format!("LIFELAPSE_{}_{}", section, key).to_ascii_uppercase()
}

/// Sets every setting its variable names; returns what it set: (`section.key`, variable, value).
fn apply_env(
    table: &mut toml::Table,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String, String)>, ConfigError> {
    let mut set = Vec::new();
    for (section, value) in table.iter_mut() {
        let toml::Value::Table(section_table) = value else {
            continue;
        };
        for (key, slot) in section_table.iter_mut() {
            let name = env_name(section, key);
            let raw = if section == "general" && key == "data_dir" {
                env(&name).or_else(|| env(DATA_DIR_ENV))
            } else {
                env(&name)
            };
            if let Some(raw) = raw {
                *slot = parse_like(slot, &name, raw.clone())?;
                set.push((format!("{section}.{key}"), name, raw));
            }
        }
    }
    Ok(set)
}

/// Parses an environment string as the same TOML type as the setting it overrides.
fn parse_like(current: &toml::Value, name: &str, raw: String) -> Result<toml::Value, ConfigError> {
    let err = |expected| ConfigError::Env {
        name: name.to_string(),
        value: raw.clone(),
        expected,
    };
    let trimmed = raw.trim();
    Ok(match current {
        toml::Value::Integer(_) => {
            toml::Value::Integer(trimmed.parse().map_err(|_| err("integer"))?)
        }
        toml::Value::Float(_) => toml::Value::Float(trimmed.parse().map_err(|_| err("number"))?),
        toml::Value::Boolean(_) => match trimmed.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(err("boolean (true/false)")),
        },
        _ => toml::Value::String(raw),
    })
}

/// A secret value that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Tokens and API keys, read from the environment only.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub telegram_token: Option<Secret>,
    pub discord_token: Option<Secret>,
    pub search_api_key: Option<Secret>,
    pub search_engine_id: Option<Secret>,
    /// The Brave Search API's subscription token (image search).
    pub brave_api_key: Option<Secret>,
}

impl Secrets {
    pub fn from_env() -> Self {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    pub fn from_env_with(env: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty()).map(Secret);
        Self {
            telegram_token: get("LIFELAPSE_TELEGRAM_TOKEN"),
            discord_token: get("LIFELAPSE_DISCORD_TOKEN"),
            search_api_key: get("LIFELAPSE_CRAWL_SEARCH_API_KEY"),
            search_engine_id: get("LIFELAPSE_CRAWL_SEARCH_ENGINE_ID"),
            brave_api_key: get("LIFELAPSE_CRAWL_BRAVE_API_KEY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn shipped_config_file_equals_the_defaults() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let loaded = Config::load_with_env(Some(&shipped), env_of(&[])).expect("load");
        assert_eq!(loaded, Config::default());
    }

    #[test]
    fn every_setting_is_overridable_by_its_env_var() {
        let defaults = toml::Table::try_from(Config::default()).expect("table");
        for (section, keys) in &defaults {
            let toml::Value::Table(keys) = keys else {
                continue;
            };
            for (key, value) in keys {
                let name = env_name(section, key);
                let new = match value {
                    // Typed choices take one of their names.
                    _ if (section.as_str(), key.as_str()) == ("render", "renderer") => "stylegan",
                    _ if (section.as_str(), key.as_str()) == ("render", "spacing") => "fixed",
                    _ if (section.as_str(), key.as_str()) == ("render", "background") => "plain",
                    _ if (section.as_str(), key.as_str()) == ("render", "generator") => "stylegan3",
                    _ if (section.as_str(), key.as_str()) == ("gif", "dither") => "floyd-steinberg",
                    toml::Value::Integer(_) => "77",
                    toml::Value::Float(_) => "0.25",
                    toml::Value::Boolean(_) => "true",
                    _ => "changed",
                };
                let dir = tempfile::tempdir().expect("tempdir");
                let path = write(dir.path(), "");
                let result = Config::load_with_env(Some(&path), env_of(&[(&name, new)]));
                let table = match result {
                    Ok(config) => toml::Table::try_from(config).expect("table"),
                    // Some values are out of range for some keys: the error must name the key.
                    Err(ConfigError::Invalid { key: k, .. }) => {
                        assert_eq!(k, format!("{section}.{key}"));
                        continue;
                    }
                    Err(e) => panic!("{name}: {e}"),
                };
                let got = table[section.as_str()][key.as_str()].to_string();
                assert!(got.contains(new.trim_matches('"')), "{name}: got {got}");
            }
        }
    }

    #[test]
    fn env_beats_file_and_data_dir_has_a_short_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[render]\nsize = 256\nfps = 10.0\n");
        let config = Config::load_with_env(
            Some(&path),
            env_of(&[
                ("LIFELAPSE_RENDER_SIZE", "1024"),
                ("LIFELAPSE_DATA_DIR", "/tmp/x"),
            ]),
        )
        .expect("load");
        assert_eq!(config.render.size, 1024);
        assert_eq!(config.render.fps, 10.0);
        assert_eq!(config.data_dir(), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn config_env_var_names_another_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[gif]\ncolors = 64\n");
        let env = env_of(&[(CONFIG_ENV, path.to_str().expect("utf-8"))]);
        let config = Config::load_with_env(None, env).expect("load");
        assert_eq!(config.gif.colors, 64);
    }

    #[test]
    fn typed_choices_read_their_names_and_refuse_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            dir.path(),
            "[render]\nspacing = \"fixed\"\n[gif]\ndither = \"fs\"\n",
        );
        let config = Config::load_with_env(Some(&path), env_of(&[])).expect("load");
        assert_eq!(config.render.spacing, SpacingKind::Fixed);
        assert_eq!(config.gif.dither, Dither::FloydSteinberg);
        let written = toml::to_string(&config).expect("toml");
        assert!(
            written.contains("dither = \"floyd-steinberg\""),
            "{written}"
        );
        for (name, value) in [
            ("LIFELAPSE_RENDER_SPACING", "even"),
            ("LIFELAPSE_GIF_DITHER", "random"),
        ] {
            let err = Config::load_with_env(Some(&path), env_of(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn overrides_apply_over_the_config_and_are_checked() {
        let base = Config::default();
        let frames = RenderOverrides {
            frames_between: Some(4),
            labels: true,
            ..Default::default()
        }
        .apply(&base)
        .expect("valid");
        assert_eq!(
            frames.render.spacing,
            SpacingKind::Fixed,
            "frames alone mean fixed"
        );
        assert_eq!(frames.render.frames_between, 4);
        assert!(frames.render.labels);
        let both = RenderOverrides {
            frames_between: Some(4),
            spacing: Some(SpacingKind::Age),
            renderer: Some(RendererKind::Pixel),
            ..Default::default()
        }
        .apply(&base)
        .expect("valid");
        assert_eq!(both.render.spacing, SpacingKind::Age);
        assert_eq!(both.render.renderer, RendererKind::Pixel);
        assert_eq!(
            RenderOverrides::default().apply(&base).expect("valid"),
            base
        );
        let err = RenderOverrides {
            gamma: Some(1.5),
            ..Default::default()
        }
        .apply(&base)
        .unwrap_err();
        assert!(err.to_string().contains("render.gamma"), "{err}");
    }

    #[test]
    fn typo_in_config_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[render]\nsiez = 256\n");
        let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err();
        assert!(err.to_string().contains("siez"), "{err}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err =
            Config::load_with_env(None, env_of(&[("LIFELAPSE_RENDER_SIZE", "big")])).unwrap_err();
        assert!(err.to_string().contains("LIFELAPSE_RENDER_SIZE"), "{err}");
    }

    #[test]
    fn token_in_config_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "[telegram]\ntoken = \"123:abc\"\n");
        let err = Config::load_with_env(Some(&path), env_of(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::SecretInFile { .. }), "{err}");
        assert!(!err.to_string().contains("123:abc"));
    }

    #[test]
    fn secrets_come_from_env_and_never_print() {
        let secrets = Secrets::from_env_with(env_of(&[("LIFELAPSE_TELEGRAM_TOKEN", "123:abc")]));
        let token = secrets.telegram_token.as_ref().expect("token");
        assert_eq!(token.expose(), "123:abc");
        assert!(!format!("{secrets:?}").contains("123:abc"));
        assert!(secrets.discord_token.is_none());
    }
}
