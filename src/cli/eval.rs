//! `lifelapse eval`: measure a time-lapse, or compare renderers.

use super::common::{
    analyzed_album, bar, fail, failed, load_analyzer, parse_size, print_json, render_with_bar,
    FaceChoice, Failure,
};
use super::exit;
use anyhow::Context;
use lifelapse::config::{Background, Config, GeneratorChoice, RenderOverrides, RendererKind};
use lifelapse::render::{self, Output, RenderSettings};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A GIF or MP4 to score; with --compare, the photos (files or folders) to render.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Render the photos with each of these renderers and compare them (stylegan2 and
    /// stylegan3: the stylegan renderer with the newest imported encoder of that family).
    #[arg(long, value_delimiter = ',', value_name = "R1,R2", value_enum)]
    compare: Vec<Contender>,
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
    /// What shows behind the person when rendering (every renderer gets the same).
    #[arg(long, value_enum)]
    background: Option<Background>,
    #[command(flatten)]
    choice: FaceChoice,
}

/// One renderer of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Contender {
    Pixel,
    Morph,
    /// The stylegan renderer with the configured encoder.
    Stylegan,
    Stylegan2,
    Stylegan3,
}

impl Contender {
    fn overrides(self) -> RenderOverrides {
        let (renderer, generator) = match self {
            Contender::Pixel => (RendererKind::Pixel, None),
            Contender::Morph => (RendererKind::Morph, None),
            Contender::Stylegan => (RendererKind::Stylegan, None),
            Contender::Stylegan2 => (RendererKind::Stylegan, Some(GeneratorChoice::Stylegan2)),
            Contender::Stylegan3 => (RendererKind::Stylegan, Some(GeneratorChoice::Stylegan3)),
        };
        RenderOverrides {
            renderer: Some(renderer),
            generator,
            ..Default::default()
        }
    }

    fn name(self) -> &'static str {
        match self {
            Contender::Pixel => "pixel",
            Contender::Morph => "morph",
            Contender::Stylegan => "stylegan",
            Contender::Stylegan2 => "stylegan2",
            Contender::Stylegan3 => "stylegan3",
        }
    }
}

pub fn run(args: Args, config: Config) -> Result<(), Failure> {
    let Args {
        inputs,
        compare,
        photos,
        plots,
        json,
        size,
        background,
        choice,
    } = args;
    use lifelapse::eval;
    let config = RenderOverrides {
        size,
        background,
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
        let engines = render::resident_engines(&config).map_err(failed)?;
        for &contender in &compare {
            let config = contender
                .overrides()
                .apply(&config)
                .map_err(|e| fail(exit::USAGE)(e.into()))?;
            let name = contender.name();
            let settings = RenderSettings::from_config(&config).map_err(failed)?;
            let request = render::RenderRequest {
                album: analyzed.selected(),
                settings: &settings,
                output: Output::Memory,
            };
            let rendered = render_with_bar(&request, &engines, &format!("rendering {name}"))?;
            let frames = rendered.frames.unwrap_or_default();
            videos.push(eval::VideoToScore {
                name: name.to_string(),
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
        print!("{report}");
        eprintln!("plots in {}", plots.display());
    }
    Ok(())
}
