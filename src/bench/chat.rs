//! `lifelapse bench chat`: the Telegram bot in this process against the local Bot API
//! stand-in. How long a 20-photo album takes from "find the faces" to the review (first with
//! the face networks still to load, then warm), and how many renders a minute four chats that
//! press Render together get: with the default renderer, and with the stylegan renderer when a
//! pSp or e4e checkpoint is given (all four share the process's one loaded engine).

use super::BenchError;
use crate::chat::conversation::Conversation;
use crate::chat::service::Service;
use crate::chat::telegram::{self, TelegramOptions};
use crate::config::{Config, Secret};
use crate::store::SessionStore;
use lifelapse_test_support::telegram::{Call, FakeTelegram};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct ChatBench {
    /// Where the face networks ran.
    pub device: String,
    pub album_photos: usize,
    /// "Find the faces" pressed → review (contact sheet and buttons) sent, face networks not
    /// yet loaded.
    pub review_cold_ms: u64,
    /// The same for a second chat, networks loaded.
    pub review_warm_ms: u64,
    pub chats: usize,
    pub render_size: u32,
    pub render_workers: usize,
    /// All chats press Render at once → the last video delivered.
    pub renders_wall_ms: u64,
    pub renders_per_minute: f64,
    /// The same four renders with the stylegan renderer (with `--checkpoint`).
    pub stylegan: Option<GenerativeRound>,
}

#[derive(Debug, Serialize)]
pub struct GenerativeRound {
    pub checkpoint: String,
    pub renders_wall_ms: u64,
    pub renders_per_minute: f64,
    /// Times the process loaded the checkpoint onto the device (one is the goal).
    pub model_loads: u64,
    pub frames_generated: u64,
    pub batches: u64,
}

const TOKEN: &str = "1:BENCH";
const TIMEOUT: Duration = Duration::from_secs(300);

/// `n` distinct photos from the samples: each sample as is, mirrored, and cropped by a few
/// per cent, re-encoded (so no two are duplicates, and each still shows its face).
pub(super) fn album(samples: &Path, n: usize) -> Result<Vec<Vec<u8>>, BenchError> {
    let (files, _) = crate::album::expand_paths(&[samples.to_path_buf()]);
    let images: Vec<image::RgbImage> = files
        .iter()
        .filter_map(|f| image::open(f).ok())
        .map(|i| i.to_rgb8())
        .collect();
    if images.is_empty() {
        return Err(BenchError::Input(format!(
            "no photos in {}",
            samples.display()
        )));
    }
    let mut out = Vec::new();
    for k in 0..n {
        let base = &images[k % images.len()];
        let variant = k / images.len();
        let (w, h) = base.dimensions();
        let crop = 100 - 4 * (variant as u32 / 2);
        let (cw, ch) = (w * crop / 100, h * crop / 100);
        let mut img =
            image::imageops::crop_imm(base, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
        if variant % 2 == 1 {
            img = image::imageops::flip_horizontal(&img);
        }
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&img)
            .map_err(BenchError::setup)?;
        out.push(bytes);
    }
    Ok(out)
}

fn wait(
    fake: &FakeTelegram,
    from: usize,
    what: &str,
    matches: impl Fn(&Call) -> bool,
) -> Result<(usize, Call), BenchError> {
    fake.try_wait_for(from, TIMEOUT, matches)
        .map_err(|seen| BenchError::Input(format!("timed out waiting for {what}: {seen:?}")))
}

/// Sends the album to `chat` and presses "find the faces"; returns the time to the review.
pub(super) fn album_to_review(
    fake: &FakeTelegram,
    chat: i64,
    photos: &[Vec<u8>],
) -> Result<Duration, BenchError> {
    let start = fake.calls().len();
    let group = format!("album-{chat}");
    for (i, bytes) in photos.iter().enumerate() {
        let id = fake.add_file(bytes.clone());
        fake.send_document(chat, chat, &id, &format!("{i}.jpg"), Some(&group));
    }
    let counted = format!("{} photos", photos.len());
    let (at, collected) = wait(fake, start, "the album's reply", |c| {
        c.method == "sendmessage" && c.chat() == Some(chat) && c.text().contains(&counted)
    })?;
    let message = collected.message_id.unwrap_or(0);
    let started = Instant::now();
    fake.press(chat, chat, message, &format!("{chat}|analyze"));
    let (_, review) = wait(fake, at, "the review", |c| {
        c.chat() == Some(chat) && (c.method == "sendphoto" || c.text().contains("couldn't"))
    })?;
    if review.method != "sendphoto" {
        return Err(BenchError::Input(format!("analysis: {}", review.text())));
    }
    Ok(started.elapsed())
}

/// All `chats` press Render at once (after `settings`, button data such as
/// `renderer=stylegan`); returns the time until the last video arrived.
pub(super) fn render_round(
    fake: &FakeTelegram,
    chats: &[i64],
    settings: &[&str],
) -> Result<Duration, BenchError> {
    let start = fake.calls().len();
    let started = Instant::now();
    for &chat in chats {
        for setting in settings {
            fake.press(chat, chat, 1, &format!("{chat}|set:{setting}"));
        }
        fake.press(chat, chat, 1, &format!("{chat}|render"));
    }
    for &chat in chats {
        // MP4 comes as an animation; without ffmpeg the GIF comes as a file.
        let (_, done) = wait(fake, start, "a video", |c| {
            c.chat() == Some(chat)
                && (c.method == "sendanimation"
                    || c.method == "senddocument"
                    || c.text().contains("failed"))
        })?;
        if done.file.is_none() {
            return Err(BenchError::Input(format!("render: {}", done.text())));
        }
    }
    Ok(started.elapsed())
}

/// Renders a minute of `chats` renders that took `wall`.
pub(super) fn per_minute(chats: usize, wall: Duration) -> f64 {
    chats as f64 * 60.0 / wall.as_secs_f64().max(1e-9)
}

/// `checkpoint`: a pSp or e4e checkpoint for a second round with the stylegan renderer.
pub fn run(
    samples: &Path,
    device: tch::Device,
    checkpoint: Option<&Path>,
) -> Result<ChatBench, BenchError> {
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let config = bot_config(dir.path(), device);
    let store = Arc::new(crate::store::SledStore::open(dir.path()).map_err(BenchError::setup)?);
    let bot = Bot::start(&config, store, None)?;
    let (fake, service) = (&bot.fake, &bot.service);

    let result = (|| {
        let photos = album(samples, 20)?;
        let review_cold = album_to_review(fake, 1001, &photos)?;
        let review_warm = album_to_review(fake, 1002, &photos)?;

        let chats: Vec<i64> = (2001..2005).collect();
        let small = album(samples, 6)?;
        for &chat in &chats {
            album_to_review(fake, chat, &small)?;
        }
        let wall = render_round(fake, &chats, &[])?;
        let stylegan = match checkpoint {
            None => None,
            Some(file) => {
                let opened = crate::nets::import::open(file, None).map_err(BenchError::setup)?;
                crate::nets::import::save(&opened, file, &config.data_dir().join("models"))
                    .map_err(BenchError::setup)?;
                let wall = render_round(fake, &chats, &["renderer=stylegan"])?;
                let stats = service.engine_stats();
                use std::sync::atomic::Ordering::Relaxed;
                Some(GenerativeRound {
                    checkpoint: file.display().to_string(),
                    renders_wall_ms: wall.as_millis() as u64,
                    renders_per_minute: per_minute(chats.len(), wall),
                    model_loads: stats.model_loads.load(Relaxed),
                    frames_generated: stats.frames_generated.load(Relaxed),
                    batches: stats.batches(),
                })
            }
        };
        Ok(ChatBench {
            device: config.general.device.clone(),
            album_photos: photos.len(),
            review_cold_ms: review_cold.as_millis() as u64,
            review_warm_ms: review_warm.as_millis() as u64,
            chats: chats.len(),
            render_size: crate::chat::conversation::ChatSettings::default().size,
            render_workers: config.chat.render_workers,
            renders_wall_ms: wall.as_millis() as u64,
            renders_per_minute: per_minute(chats.len(), wall),
            stylegan,
        })
    })();
    bot.stop();
    result
}

/// The settings of a benchmark's bot: data in `dir`, the Bot API stand-in's URL set by
/// [`Bot::start`].
pub(super) fn bot_config(dir: &Path, device: tch::Device) -> Config {
    let mut config = Config::default();
    config.general.data_dir = dir.display().to_string();
    config.telegram.poll_timeout_s = 1;
    config.chat.metrics_addr = String::new();
    config.general.device = match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    };
    config
}

/// The chat service and its Telegram adapter in this process, on the Bot API stand-in.
pub(super) struct Bot {
    pub fake: FakeTelegram,
    pub service: Arc<Service>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Bot {
    /// With `remote`, the service publishes its jobs for the cluster's workers.
    pub(super) fn start(
        config: &Config,
        store: Arc<dyn SessionStore<Conversation>>,
        remote: Option<crate::chat::remote::Remote>,
    ) -> Result<Self, BenchError> {
        let fake = FakeTelegram::start(TOKEN)
            .map_err(|e| BenchError::Input(format!("local server: {e}")))?;
        let mut config = config.clone();
        config.telegram.api_url = fake.url();
        let service = Service::start_with(config.clone(), store, remote);
        let options = TelegramOptions::from_config(&config, Secret::new(TOKEN));
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let bot_service = service.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build();
            if let Ok(rt) = runtime {
                let _ = rt.block_on(telegram::run(bot_service, options, async {
                    let _ = stop_rx.await;
                }));
            }
        });
        Ok(Self {
            fake,
            service,
            stop,
            thread,
        })
    }

    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
        self.service.stop();
    }
}
