//! The `lifelapse` command: parses arguments, loads the config, hands off to the library and
//! prints what happened for a person (or as JSON for a script).

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lifelapse::config::{Config, RenderOverrides, RendererKind, SpacingKind};
use lifelapse::render::{self, Output, RenderError, RenderSettings};
use lifelapse::select::{self, AnalyzedAlbum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, also listed in the README.
mod exit {
    /// Something unexpected failed (a bug, or the machine).
    pub const FAILURE: u8 = 1;
    /// The command line or the config is wrong.
    pub const USAGE: u8 = 2;
    /// The photos cannot make what was asked (none usable, fewer than two for a video).
    pub const INPUT: u8 = 3;
    /// The output could not be written.
    pub const OUTPUT: u8 = 4;
}

const AFTER_HELP: &str = "\
Examples:
  lifelapse render samples/ -o lapse.gif            a time-lapse of a folder of photos
  lifelapse analyze photos/*.jpg --born 1942-11-20  what lifelapse sees in each photo
  lifelapse bench --json                            timings on this machine

Exit codes: 0 done (unusable photos are listed and skipped), 1 unexpected failure,
2 bad command line or config, 3 no usable photos, 4 output could not be written.
Settings come from config.toml (or LIFELAPSE_CONFIG), each overridable as LIFELAPSE_<SECTION>_<KEY>.";

#[derive(Parser)]
#[command(name = "lifelapse", version, about = "Turns photos of one person into a time-lapse of them growing up.", after_help = AFTER_HELP)]
struct Cli {
    /// Config file (default: $LIFELAPSE_CONFIG, else ./config.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what lifelapse finds in each photo: faces, date, age, duplicates, errors.
    #[command(
        after_help = "Example:\n  lifelapse analyze ~/album --born 2001-06-30 --json > album.json"
    )]
    Analyze {
        /// Photo files or folders (JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF).
        #[arg(required = true, value_name = "PHOTOS")]
        photos: Vec<PathBuf>,
        #[command(flatten)]
        choice: FaceChoice,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write every face aligned (001.png, … in the order listed), a numbered
        /// contact sheet (contact-sheet.png) and the JSON report here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Make the time-lapse video.
    #[command(
        after_help = "Example:\n  lifelapse render samples/ -o lapse.gif --size 512 --frames-between 12 --fps 12"
    )]
    Render {
        /// Photo files or folders (JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF).
        #[arg(required_unless_present = "name", value_name = "PHOTOS")]
        photos: Vec<PathBuf>,
        /// Find the photos by the person's name instead (see `crawl`).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Output video: .gif, or .mp4 (H.264, needs ffmpeg).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        flags: RenderFlags,
        #[command(flatten)]
        choice: FaceChoice,
        /// Also use faces flagged as suspected intruders.
        #[arg(long)]
        keep_all: bool,
    },
    /// Time intake, face analysis, rendering and video encoding on this machine.
    Bench {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Folder of photos to benchmark with.
        #[arg(long, default_value = "samples")]
        samples: PathBuf,
        /// Only this benchmark (also accepted as `--only`).
        #[arg(value_name = "WORKLOAD", value_enum)]
        workload: Option<lifelapse::bench::Workload>,
        /// Only this benchmark.
        #[arg(long, value_enum, conflicts_with = "workload")]
        only: Option<lifelapse::bench::Workload>,
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// A pSp or e4e checkpoint: `bench chat` also renders with the stylegan renderer.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Measure a time-lapse: identity kept, ghosting, smoothness; or compare renderers.
    #[command(
        after_help = "Examples:\n  lifelapse eval lapse.gif --photos ~/album --json\n  lifelapse eval --compare pixel,morph ~/album --plots eval/\n\nidentity: 1 - descriptor distance to the nearest real photo (higher is better)\nghosting: how much a frame shows both neighbouring photos' edges at once, % (lower is better)\nsmoothness: mean change between consecutive frames in 8-bit levels (lower is smoother)"
    )]
    Eval {
        /// A GIF or MP4 to score; with --compare, the photos (files or folders) to render.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Render the photos with each of these renderers and compare them.
        #[arg(long, value_delimiter = ',', value_name = "R1,R2", value_enum)]
        compare: Vec<RendererKind>,
        /// The photos a scored video was made from (its identity and ghosting references);
        /// without them its first and last frames are the references.
        #[arg(long, num_args = 1.., value_name = "PHOTOS")]
        photos: Vec<PathBuf>,
        /// Folder for the PNG plots (eval-NAME.png).
        #[arg(long, default_value = ".")]
        plots: PathBuf,
        /// Print JSON (with per-frame curves).
        #[arg(long)]
        json: bool,
        /// Frame size when rendering.
        #[arg(long, value_parser = parse_size)]
        size: Option<u32>,
        #[command(flatten)]
        choice: FaceChoice,
    },
    /// Find dated photos of a person by name (Wikidata, Wikimedia Commons, and an image search
    /// when its key is set) and save them with a manifest.
    #[command(
        after_help = "Example:\n  lifelapse crawl \"Steve Carell\" -o carell/ --max 30\n  lifelapse render carell/ -o carell.gif --born 1962-08-16"
    )]
    Crawl {
        /// The person's name.
        name: String,
        /// Folder for the photos and manifest.json.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Photos to keep (default: [crawl] max_photos).
        #[arg(long)]
        max: Option<usize>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert a published StyleGAN2, pSp or e4e checkpoint for the stylegan renderer.
    #[command(
        after_help = "Reads rosinality-layout .pt files (g_ema, latent_avg) and the pSp / e4e .pt files\n(state_dict, opts, latent_avg) without running any code inside them, and writes\n<data dir>/models/<name>.<kind>.safetensors with an entry in its MANIFEST.toml.\n\nExample:\n  lifelapse import-weights ~/Downloads/psp_ffhq_encode.pt"
    )]
    ImportWeights {
        /// The checkpoint file.
        file: PathBuf,
        /// What it holds (default: read from the file).
        #[arg(long, value_enum)]
        kind: Option<lifelapse::nets::import::CheckpointKind>,
    },
    /// Generate images from W+ codes with a StyleGAN2 generator (safetensors in and out).
    Generate {
        /// An imported checkpoint or an original one.
        #[arg(long, value_name = "CKPT")]
        checkpoint: PathBuf,
        /// Safetensors holding `w_plus` [N, n_latent, style_dim].
        #[arg(long, value_name = "IN")]
        latents: PathBuf,
        /// Safetensors to write `images` [N, 3, H, W] to (raw generator output).
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        #[command(flatten)]
        run: GanRun,
    },
    /// Encode aligned face images into W+ codes with a pSp or e4e encoder.
    Encode {
        /// An imported pSp/e4e checkpoint or an original one.
        #[arg(long, value_name = "CKPT")]
        checkpoint: PathBuf,
        /// Aligned face images (resized to 256² for the encoder).
        #[arg(long, value_name = "ALIGNED", num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// Safetensors to write `w_plus` [N, n_latent, style_dim] to.
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
        #[command(flatten)]
        run: GanRun,
    },
    /// Run the chat bots: Telegram when LIFELAPSE_TELEGRAM_TOKEN is set. Sessions live in the
    /// data directory, so a restart continues where the last run stopped.
    Serve,
    /// Show the configuration, compute device and optional features.
    Info,
}

/// Precision and batch of a generative-network command.
#[derive(Debug, clap::Args)]
struct GanRun {
    /// fp16 runs on CUDA only.
    #[arg(long, default_value = "fp32", value_enum)]
    precision: lifelapse::gan::Precision,
    /// Items per network call.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

/// A generative command's error with its exit code: the user's files, or the machine.
fn gan_failure(e: lifelapse::gan::GanError) -> Failure {
    use lifelapse::gan::GanError;
    use lifelapse::nets::import::ImportError;
    let code = match &e {
        GanError::HalfOnCpu | GanError::Net(_) => exit::USAGE,
        GanError::Checkpoint(ImportError::Write { .. }) => exit::OUTPUT,
        _ => exit::INPUT,
    };
    fail(code)(e.into())
}

/// The compute device the config asks for.
fn device_of(config: &Config) -> Result<tch::Device, Failure> {
    lifelapse::nets::device::select(&config.general.device).map_err(|e| fail(exit::USAGE)(e.into()))
}

/// The render's choices over the config's `[render]` settings.
#[derive(clap::Args)]
struct RenderFlags {
    /// Side of the square video in pixels.
    #[arg(long, value_parser = parse_size)]
    size: Option<u32>,
    /// Frames between two photos, the same for every pair (fixed spacing).
    #[arg(long, value_name = "N")]
    frames_between: Option<u32>,
    /// `age` (the default): more frames where the age gap is larger; `fixed`: --frames-between.
    #[arg(long, value_enum)]
    spacing: Option<SpacingKind>,
    /// How strongly each real photo shows through near its keyframe, 0–1.
    #[arg(long, value_name = "G")]
    gamma: Option<f32>,
    /// How frames between photos are made.
    #[arg(long, value_enum)]
    renderer: Option<RendererKind>,
    /// stylegan: optimisation steps fitting each photo's code to the photo.
    #[arg(long, value_name = "N")]
    refine: Option<u32>,
    /// Frames per second.
    #[arg(long, value_name = "F")]
    fps: Option<f32>,
    /// Caption the video with the age, counting up between photos.
    #[arg(long)]
    labels: bool,
}

impl RenderFlags {
    fn overrides(&self) -> RenderOverrides {
        RenderOverrides {
            size: self.size,
            frames_between: self.frames_between,
            spacing: self.spacing,
            gamma: self.gamma,
            labels: self.labels,
            fps: self.fps,
            renderer: self.renderer,
            refine: self.refine,
        }
    }
}

/// What the user says about ages and which faces to keep (analyze and render alike).
#[derive(clap::Args)]
struct FaceChoice {
    /// Birth date (YYYY-MM-DD): ages come from capture date minus this.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    born: Option<NaiveDate>,
    /// Fix a photo's age by hand: NAME=YEARS (file name or path), repeatable.
    #[arg(long = "age", value_name = "NAME=YEARS", value_parser = parse_age)]
    ages: Vec<(String, f64)>,
    /// Keep only the best face of each day, week, month or year (dated photos).
    #[arg(long, value_name = "PERIOD", value_enum)]
    per: Option<select::Period>,
}

impl FaceChoice {
    fn ages(&self) -> select::AgeFacts {
        select::AgeFacts {
            born: self.born,
            fixed: self.ages.clone(),
        }
    }
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date like 1990-04-30"))
}

fn parse_age(s: &str) -> Result<(String, f64), String> {
    let (name, years) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=YEARS, e.g. photo3.jpg=12"))?;
    let years: f64 = years
        .trim()
        .parse()
        .map_err(|_| format!("{years:?} is not a number of years"))?;
    if !(0.0..=130.0).contains(&years) || name.is_empty() {
        return Err(format!(
            "{s:?}: the age must be 0–130 years and the name not empty"
        ));
    }
    Ok((name.to_string(), years))
}

fn parse_size(s: &str) -> Result<u32, String> {
    match s {
        "256" | "512" | "1024" => s.parse().map_err(|_| s.to_string()),
        _ => Err(format!("{s} is not one of 256, 512, 1024")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(&config, cli.verbose);
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

fn init_logging(config: &Config, verbose: u8) {
    let filter = match verbose {
        0 => std::env::var("RUST_LOG").unwrap_or_else(|_| config.general.log.clone()),
        1 => "info".into(),
        _ => "debug".into(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn fail(code: u8) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

fn code_of(e: &RenderError) -> u8 {
    match e {
        RenderError::Lapse(lifelapse::lapse::LapseError::MissingWeights { .. }) => exit::USAGE,
        RenderError::Lapse(lifelapse::lapse::LapseError::Generative(_)) => exit::FAILURE,
        RenderError::NoPhotos(_) | RenderError::Lapse(_) => exit::INPUT,
        RenderError::Video(lifelapse::video::VideoError::Write { .. }) => exit::OUTPUT,
        RenderError::Video(lifelapse::video::VideoError::EncoderMissing(_)) => exit::USAGE,
        RenderError::Options(_) | RenderError::Device(_) => exit::USAGE,
        RenderError::Cancelled => exit::FAILURE,
        RenderError::Video(_) => exit::FAILURE,
    }
}

/// A render error as the command's failure, with its exit code.
fn render_failure(e: RenderError) -> Failure {
    fail(code_of(&e))(e.into())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

fn take_in(photos: &[PathBuf], config: &Config) -> lifelapse::album::Album {
    let progress = bar(0, "photos");
    let options = lifelapse::album::IntakeOptions::from_config(&config.album);
    let album = lifelapse::album::intake_paths(photos, &options, &|| progress.inc(1), &|n| {
        progress.set_length(n as u64)
    });
    progress.finish_and_clear();
    album
}

fn load_analyzer(config: &Config) -> Result<lifelapse::face::FaceAnalyzer, Failure> {
    lifelapse::face::FaceAnalyzer::load_configured(device_of(config)?, &config.faces)
        .map_err(|e| fail(exit::FAILURE)(e.into()))
}

/// The faces of every photo, with a progress bar.
fn faces_with(
    album: &lifelapse::album::Album,
    analyzer: &lifelapse::face::FaceAnalyzer,
) -> Vec<Vec<lifelapse::face::Face>> {
    let progress = bar(album.photos.len() as u64, "faces");
    let faces = analyzer.analyze_album(album, &|| progress.inc(1));
    progress.finish_and_clear();
    faces
}

/// Photos taken in (problems on stderr), their faces found and judged.
fn analyzed_album(
    photos: &[PathBuf],
    config: &Config,
    analyzer: &lifelapse::face::FaceAnalyzer,
    choice: &FaceChoice,
    ages: select::AgeFacts,
    keep_all: bool,
) -> AnalyzedAlbum {
    let album = take_in(photos, config);
    print_problems(&album);
    let faces = faces_with(&album, analyzer);
    let options = select::DecideOptions {
        keep_all,
        per: choice.per,
        ..select::DecideOptions::from_config(config)
    };
    AnalyzedAlbum::judge(album, faces, options, ages)
}

/// Prints `value` as pretty JSON on stdout.
fn print_json(value: &impl serde::Serialize, what: &str) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| what.to_string())
        .map_err(fail(exit::FAILURE))?;
    println!("{text}");
    Ok(())
}

/// A folder name for a person's name.
fn slug(name: &str) -> String {
    let s: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Crawls `name` into `dir` (emptied of an earlier crawl's photos first).
fn crawl_into(
    name: &str,
    dir: &std::path::Path,
    config: &Config,
    max: Option<usize>,
) -> Result<lifelapse::crawl::CrawlResult, Failure> {
    use lifelapse::crawl::{self, CrawlError};
    let mut options =
        crawl::CrawlOptions::from_config(config, &lifelapse::config::Secrets::from_env());
    if let Some(max) = max {
        options.max_photos = max.max(1);
    }
    eprintln!("looking for photos of {name}…");
    let mut result = crawl::crawl(name, &options).map_err(|e| {
        let code = match e {
            CrawlError::UnknownName(_) | CrawlError::NoPhotos(_) => exit::INPUT,
            CrawlError::Config(_) => exit::USAGE,
            CrawlError::Write { .. } => exit::OUTPUT,
            _ => exit::FAILURE,
        };
        fail(code)(e.into())
    })?;
    if dir.join("manifest.json").is_file() {
        // A fresh crawl replaces the last one's photos.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    crawl::save(&mut result, dir).map_err(|e| fail(exit::OUTPUT)(e.into()))?;
    Ok(result)
}

fn print_problems(album: &lifelapse::album::Album) {
    for r in &album.rejected {
        eprintln!("skipped {}: {}", r.source, r.error);
    }
    for d in &album.duplicates {
        eprintln!("skipped {}: duplicate of {}", d.source, d.of);
    }
}

fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Analyze {
            photos,
            choice,
            json,
            out_dir,
        } => {
            let album = take_in(&photos, &config);
            let faces = faces_with(&album, &load_analyzer(&config)?);
            let options = select::DecideOptions {
                per: choice.per,
                ..select::DecideOptions::from_config(&config)
            };
            let analyzed = AnalyzedAlbum::judge(album, faces, options, choice.ages());
            let report = analyzed.selected().report();
            let text = serde_json::to_string_pretty(&report)
                .context("report")
                .map_err(fail(exit::FAILURE))?;
            if let Some(dir) = out_dir {
                write_analysis(&dir, &analyzed, &config, &text).map_err(fail(exit::OUTPUT))?;
            }
            if json {
                println!("{text}");
            } else {
                print_table(&report);
                print_problems(&analyzed.album);
            }
            if analyzed.album.photos.is_empty() {
                return Err(fail(exit::INPUT)(anyhow::anyhow!("no usable photos")));
            }
            Ok(())
        }
        Command::Render {
            mut photos,
            name,
            output,
            flags,
            choice,
            keep_all,
        } => {
            let mut ages = choice.ages();
            if let Some(name) = &name {
                let dir = config.data_dir().join("crawl").join(slug(name));
                let result = crawl_into(name, &dir, &config, None)?;
                ages.born = ages.born.or(result.person.born);
                // Dates from the sources first; the user's own --age still wins.
                let from_sources = result
                    .photos
                    .iter()
                    .filter_map(|p| Some((p.file.clone()?, p.age?)));
                ages.fixed = from_sources.chain(ages.fixed).collect();
                for line in lifelapse::crawl::attributions(&result) {
                    eprintln!("photo: {line}");
                }
                photos.push(dir);
            }
            let config = flags
                .overrides()
                .apply(&config)
                .map_err(|e| fail(exit::USAGE)(e.into()))?;
            let settings = RenderSettings::from_config(&config).map_err(render_failure)?;
            // Said before any photo is read.
            let format = render::VideoFormat::of_path(&output).map_err(render_failure)?;
            let analyzer = load_analyzer(&config)?;
            let analyzed = analyzed_album(&photos, &config, &analyzer, &choice, ages, keep_all);
            let engines = render::resident_engines(&config).map_err(render_failure)?;
            let progress = bar(0, "frames");
            let request = render::RenderRequest {
                album: analyzed.selected(),
                settings: &settings,
                output: Output::File {
                    path: &output,
                    format,
                },
            };
            let rendered = render::run(
                &request,
                &engines,
                &|done, total| {
                    progress.set_length(total as u64);
                    progress.set_position(done as u64);
                },
                &Default::default(),
            )
            .map_err(render_failure)?;
            progress.finish_and_clear();
            for l in &rendered.left_out {
                eprintln!("left out {}: {}", l.photo, l.error);
            }
            eprintln!(
                "wrote {} ({} photos, {} frames, {} KB)",
                output.display(),
                rendered.keyframes,
                rendered.stats.frames,
                rendered.stats.bytes / 1000
            );
            Ok(())
        }
        Command::Bench {
            json,
            samples,
            workload,
            only,
            runs,
            checkpoint,
        } => {
            let device = device_of(&config)?;
            let only = workload.or(only);
            let report =
                lifelapse::bench::run(&samples, only, runs.max(1), device, checkpoint.as_deref())
                    .context("benchmark")
                    .map_err(fail(exit::FAILURE))?;
            if json {
                print_json(&report, "report")?;
            } else {
                println!(
                    "machine: {} ({} worker threads)",
                    report.machine, report.threads
                );
                if let Some(i) = &report.intake {
                    println!(
                        "intake: 12 MP JPEG in {:.0} ms (median of {})",
                        i.photo_12mp_ms, i.runs
                    );
                }
                if let Some(f) = &report.faces {
                    println!(
                        "faces: detect {:.0} ms, landmarks {:.0} ms, describe {:.0} ms (all faces: {:.0} ms), align to 1024² {:.0} ms per photo ({} photos)",
                        f.detect_ms, f.landmarks_ms, f.describe_ms, f.analyze_ms, f.align_1024_ms, f.photos
                    );
                }
                for r in &report.render {
                    println!(
                        "render: {:<6} {} frames {}² in {:.2} s",
                        r.renderer, r.frames, r.size, r.seconds
                    );
                }
                if let Some(a) = &report.album_200 {
                    println!(
                        "album: {} photos of {} MP in {:.1} s, peak memory {:.0} MB -> {:.0} MB",
                        a.photos,
                        a.megapixels_each,
                        a.seconds,
                        a.peak_rss_before_mb,
                        a.peak_rss_after_mb
                    );
                }
                for g in &report.gif {
                    println!(
                        "gif: {:<32} {} frames {}²  {:>6.2} s  {:>7} KB  {:.1} dB",
                        g.encoder,
                        g.frames,
                        g.size,
                        g.seconds,
                        g.bytes / 1000,
                        g.psnr_db
                    );
                }
                if let Some(c) = &report.chat {
                    println!(
                        "chat: {}-photo album to review {} ms (networks loading) / {} ms (warm); {} chats rendering {} px at once: {} ms, {:.1} renders/min ({} render worker)",
                        c.album_photos, c.review_cold_ms, c.review_warm_ms, c.chats, c.render_size, c.renders_wall_ms, c.renders_per_minute, c.render_workers
                    );
                    if let Some(g) = &c.stylegan {
                        println!(
                            "chat, stylegan renderer: {} ms, {:.1} renders/min; checkpoint loaded {} time(s), {} frames in {} batches",
                            g.renders_wall_ms, g.renders_per_minute, g.model_loads, g.frames_generated, g.batches
                        );
                    }
                }
                if let Some(c) = &report.crawl {
                    println!(
                        "crawl: {} candidates, {} photos kept, {} ms latency per answer: {} ms wall for {} ms of downloads ({:.1}× overlap; {} at once, {} per host)",
                        c.candidates, c.photos, c.latency_ms, c.wall_ms, c.download_ms_sum, c.overlap, c.concurrency, c.per_host
                    );
                }
                if let Some(s) = &report.stylegan {
                    for g in &s.generator {
                        println!(
                            "stylegan: generator {} batch {} {}{} {}: {:.1} frames/s ({:.2} ms/frame) on {}",
                            g.config,
                            g.batch,
                            g.precision,
                            if g.channels_last { " NHWC" } else { "" },
                            match g.fuse_up_max_channels {
                                i64::MAX => "composed up-sampling".to_string(),
                                0 => "separate blur".to_string(),
                                n => format!("composed up-sampling up to {n} channels"),
                            },
                            g.frames_per_s,
                            g.ms_per_frame,
                            s.device
                        );
                    }
                    for e in &s.encoder {
                        println!(
                            "stylegan: encoder {} batch {} {}: {:.1} encodes/s on {}",
                            e.config, e.batch, e.precision, e.encodes_per_s, s.device
                        );
                    }
                    if let Some(c) = &s.fp16_vs_fp32 {
                        println!(
                            "stylegan: fp16 vs fp32 on {}: max |diff| {:.3e}, mean {:.3e}, image absmax {:.3}",
                            c.config, c.max_abs_diff, c.mean_abs_diff, c.absmax
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Eval {
            inputs,
            compare,
            photos,
            plots,
            json,
            size,
            choice,
        } => {
            use lifelapse::eval;
            let config = RenderOverrides {
                size,
                ..Default::default()
            }
            .apply(&config)
            .map_err(|e| fail(exit::USAGE)(e.into()))?;
            let analyzer = load_analyzer(&config)?;
            std::fs::create_dir_all(&plots)
                .with_context(|| format!("cannot create {}", plots.display()))
                .map_err(fail(exit::OUTPUT))?;
            let ages = choice.ages();
            let mut report = eval::EvalReport {
                renderers: Default::default(),
                per_frame: Default::default(),
            };
            let mut videos: Vec<eval::VideoToScore> = Vec::new();
            if compare.is_empty() {
                let [video] = inputs.as_slice() else {
                    return Err(fail(exit::USAGE)(anyhow::anyhow!(
                        "eval scores one video at a time; to render photos, add --compare pixel,morph"
                    )));
                };
                let frames = eval::read_video(video)
                    .with_context(|| format!("cannot read {}", video.display()))
                    .map_err(fail(exit::INPUT))?;
                let (w, _) = frames[0].dimensions();
                let refs: Vec<image::RgbImage> = if photos.is_empty() {
                    vec![frames[0].clone(), frames[frames.len() - 1].clone()]
                } else {
                    let analyzed =
                        analyzed_album(&photos, &config, &analyzer, &choice, ages.clone(), false);
                    let (keyframes, _) = analyzed.selected().keyframes(w);
                    keyframes.into_iter().map(|k| k.image).collect()
                };
                if refs.is_empty() {
                    return Err(fail(exit::INPUT)(anyhow::anyhow!(
                        "no face found in the photos given with --photos"
                    )));
                }
                let ref_views: Vec<&image::RgbImage> = refs.iter().collect();
                let pairs = eval::nearest_pairs(&frames, &ref_views);
                let name = video
                    .file_stem()
                    .map_or("video".into(), |s| s.to_string_lossy().into_owned());
                videos.push(eval::VideoToScore {
                    name,
                    frames,
                    refs,
                    pairs,
                });
            } else {
                let analyzed = analyzed_album(&inputs, &config, &analyzer, &choice, ages, false);
                let engines = render::resident_engines(&config).map_err(render_failure)?;
                for &kind in &compare {
                    let config = RenderOverrides {
                        renderer: Some(kind),
                        ..Default::default()
                    }
                    .apply(&config)
                    .map_err(|e| fail(exit::USAGE)(e.into()))?;
                    let settings = RenderSettings::from_config(&config).map_err(render_failure)?;
                    let request = render::RenderRequest {
                        album: analyzed.selected(),
                        settings: &settings,
                        output: Output::Memory,
                    };
                    let progress = bar(0, &format!("rendering {kind}"));
                    let rendered = render::run(
                        &request,
                        &engines,
                        &|done, total| {
                            progress.set_length(total as u64);
                            progress.set_position(done as u64);
                        },
                        &Default::default(),
                    )
                    .map_err(render_failure)?;
                    progress.finish_and_clear();
                    let frames = rendered.frames.unwrap_or_default();
                    videos.push(eval::VideoToScore {
                        name: kind.to_string(),
                        frames: frames.frames,
                        refs: frames.keyframes,
                        pairs: frames.pairs,
                    });
                }
            }
            for eval::VideoToScore {
                name,
                frames,
                refs,
                pairs,
            } in videos
            {
                let progress = bar(frames.len() as u64, &format!("scoring {name}"));
                let references = eval::References {
                    images: refs.iter().collect(),
                    pairs,
                };
                let scores = eval::score(&frames, &references, &analyzer, &|| progress.inc(1));
                progress.finish_and_clear();
                let plot_path = plots.join(format!("eval-{name}.png"));
                eval::plot(&name, &scores)
                    .save(&plot_path)
                    .with_context(|| format!("cannot write {}", plot_path.display()))
                    .map_err(fail(exit::OUTPUT))?;
                report.renderers.insert(name.clone(), scores.summary());
                report.per_frame.insert(name, scores);
            }
            if json {
                print_json(&report, "report")?;
            } else {
                println!(
                    "{:<12} {:>8} {:>8} {:>9} {:>9} {:>10} {:>6} {:>6}",
                    "renderer",
                    "id mean",
                    "id min",
                    "ghost avg",
                    "ghost max",
                    "smoothness",
                    "spikes",
                    "frames"
                );
                for (name, s) in &report.renderers {
                    println!(
                        "{:<12} {:>8.3} {:>8.3} {:>9.1} {:>9.1} {:>10.2} {:>6} {:>6}",
                        name,
                        s.identity_mean,
                        s.identity_min,
                        s.ghosting_mean,
                        s.ghosting_max,
                        s.smoothness,
                        s.spikes,
                        s.frames
                    );
                }
                eprintln!("plots in {}", plots.display());
            }
            Ok(())
        }
        Command::Crawl {
            name,
            output,
            max,
            json,
        } => {
            let result = crawl_into(&name, &output, &config, max)?;
            if json {
                print_json(&result, "manifest")?;
            } else {
                let p = &result.person;
                println!(
                    "{} ({}{}), born {}",
                    p.label,
                    p.id,
                    p.description
                        .as_deref()
                        .map(|d| format!(", {d}"))
                        .unwrap_or_default(),
                    p.born.map_or("unknown".into(), |b| b.to_string())
                );
                for a in &result.alternatives {
                    println!(
                        "  also: {} ({}){}",
                        a.label,
                        a.id,
                        a.description
                            .as_deref()
                            .map(|d| format!(", {d}"))
                            .unwrap_or_default()
                    );
                }
                for photo in &result.photos {
                    println!(
                        "{}  {}  age {}  {}",
                        photo.file.as_deref().unwrap_or("-"),
                        photo
                            .candidate
                            .date
                            .map_or("undated   ".into(), |d| d.to_string()),
                        photo.age.map_or("?".into(), |a| format!("{a:.1}")),
                        photo.candidate.url
                    );
                }
                for s in &result.skipped {
                    eprintln!("skipped {}: {}", s.url, s.reason);
                }
                println!("{} photos in {}", result.photos.len(), output.display());
            }
            Ok(())
        }
        Command::ImportWeights { file, kind } => {
            use lifelapse::nets::import::{self, ImportError};
            let code = |e: &ImportError| match e {
                ImportError::Write { .. } => exit::OUTPUT,
                _ => exit::INPUT,
            };
            let checkpoint = import::open(&file, kind).map_err(|e| {
                let c = code(&e);
                fail(c)(anyhow::Error::new(e).context(format!("cannot import {}", file.display())))
            })?;
            let dir = config.data_dir().join("models");
            let entry = import::save(&checkpoint, &file, &dir).map_err(|e| {
                let c = code(&e);
                fail(c)(e.into())
            })?;
            println!(
                "imported {} checkpoint ({}², {} MB) as {}",
                entry.kind,
                entry.resolution,
                entry.bytes / 1_000_000,
                dir.join(&entry.file).display()
            );
            println!("sha256 {}", entry.sha256);
            Ok(())
        }
        Command::Generate {
            checkpoint,
            latents,
            out,
            run,
        } => {
            let device = device_of(&config)?;
            let n = lifelapse::gan::generate(
                &checkpoint,
                &latents,
                &out,
                device,
                run.precision,
                run.batch as i64,
            )
            .map_err(gan_failure)?;
            println!("wrote {n} images to {}", out.display());
            Ok(())
        }
        Command::Encode {
            checkpoint,
            images,
            out,
            run,
        } => {
            let device = device_of(&config)?;
            let n = lifelapse::gan::encode(
                &checkpoint,
                &images,
                &out,
                device,
                run.precision,
                run.batch,
            )
            .map_err(gan_failure)?;
            println!("wrote {n} W+ codes to {}", out.display());
            Ok(())
        }
        Command::Serve => {
            use lifelapse::chat::serve::{serve, ServeError};
            serve(config, lifelapse::config::Secrets::from_env()).map_err(|e| {
                let code = match e {
                    ServeError::NoPlatform | ServeError::Metrics(..) => exit::USAGE,
                    _ => exit::FAILURE,
                };
                fail(code)(e.into())
            })
        }
        Command::Info => {
            let device = device_of(&config)?;
            println!("lifelapse {}", env!("CARGO_PKG_VERSION"));
            println!("device: {}", lifelapse::nets::device::describe(device));
            println!(
                "HEIC: {}",
                if lifelapse::album::heif::available() {
                    "yes (libheif)"
                } else {
                    "no (install libheif1)"
                }
            );
            println!("data dir: {}", config.data_dir().display());
            let text = toml::to_string(&config)
                .context("config")
                .map_err(fail(exit::FAILURE))?;
            println!("\nsettings in effect:\n{text}");
            Ok(())
        }
    }
}

fn print_table(report: &select::AnalyzeReport) {
    println!(
        "{:>3}  {:<40} {:>11}  {:<25} {:>6}",
        "#", "photo", "size", "taken", "age"
    );
    for (i, p) in report.photos.iter().enumerate() {
        println!(
            "{:>3}  {:<40} {:>11}  {:<25} {:>6}",
            i + 1,
            p.photo,
            format!("{}×{}", p.width, p.height),
            p.capture_date.as_deref().unwrap_or("-"),
            p.age.map_or("-".to_string(), |a| format!("{a:.1}"))
        );
        if let Some(note) = &p.date_note {
            println!("     note: {note}");
        }
    }
}

fn write_analysis(
    dir: &std::path::Path,
    analyzed: &AnalyzedAlbum,
    config: &Config,
    report: &str,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tiles = analyzed.selected().sheet_tiles(config.render.size);
    for (i, tile) in tiles.iter().enumerate() {
        let path = dir.join(format!("{:03}.png", i + 1));
        tile.face
            .save(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let path = dir.join("contact-sheet.png");
    lifelapse::sheet::render(&tiles)
        .save(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let path = dir.join("analysis.json");
    std::fs::write(&path, report).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
