//! `lifelapse render`: make the time-lapse video.

use super::common::{
    analyzed_album, fail, failed, load_analyzer, parse_size, render_with_bar, FaceChoice, Failure,
};
use super::crawl::{crawl_into, slug};
use super::exit;
use lifelapse::config::{
    Background, Config, GeneratorChoice, RenderOverrides, RendererKind, SpacingKind,
};
use lifelapse::render::{self, Output, RenderSettings};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
    /// What shows behind the person: the photos' backgrounds blurred, one plain colour, or
    /// the photos' own backgrounds.
    #[arg(long, value_enum)]
    background: Option<Background>,
    /// stylegan: which imported encoder, by its generator family (auto: the newest).
    #[arg(long, value_enum)]
    generator: Option<GeneratorChoice>,
    /// stylegan with a ReStyle encoder: rounds of refinement (default 3 for StyleGAN3, 5 for
    /// StyleGAN2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
    encoder_iterations: Option<u32>,
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
            background: self.background,
            generator: self.generator,
            encoder_iterations: self.encoder_iterations,
            refine: self.refine,
        }
    }
}

pub fn run(args: Args, config: Config) -> Result<(), Failure> {
    let Args {
        mut photos,
        name,
        output,
        flags,
        choice,
        keep_all,
    } = args;
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
    let settings = RenderSettings::from_config(&config).map_err(failed)?;
    // Said before any photo is read.
    let format = render::VideoFormat::of_path(&output).map_err(failed)?;
    let analyzer = load_analyzer(&config)?;
    let analyzed = analyzed_album(&photos, &config, &analyzer, &choice, ages, keep_all);
    let engines = render::resident_engines(&config).map_err(failed)?;
    let request = render::RenderRequest {
        album: analyzed.selected(),
        settings: &settings,
        output: Output::File {
            path: &output,
            format,
            max_bytes: None,
        },
    };
    let rendered = render_with_bar(&request, &engines, "frames")?;
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
