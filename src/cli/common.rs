//! What the subcommands share: exit codes and failures, progress bars, photo intake and face
//! analysis, and the flags that say who is in and at what age.

use super::exit::{self, ExitCode};
use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use lifelapse::config::Config;
use lifelapse::render;
use lifelapse::select::{self, AnalyzedAlbum};
use std::path::PathBuf;

pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

pub fn fail(code: u8) -> impl FnOnce(anyhow::Error) -> Failure {
    move |error| Failure { code, error }
}

/// A library error as the command's failure, with the exit code [`ExitCode`] gives it.
pub fn failed<E>(e: E) -> Failure
where
    E: ExitCode + std::error::Error + Send + Sync + 'static,
{
    fail(e.exit_code())(e.into())
}

/// The compute device the config asks for.
pub fn device_of(config: &Config) -> Result<tch::Device, Failure> {
    lifelapse::nets::device::select(&config.general.device).map_err(|e| fail(exit::USAGE)(e.into()))
}

pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize, what: &str) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| what.to_string())
        .map_err(fail(exit::FAILURE))?;
    println!("{text}");
    Ok(())
}

/// Runs one render through the one render path with a progress bar labelled `what`.
pub fn render_with_bar(
    request: &render::RenderRequest,
    engines: &lifelapse::inference::Resident,
    what: &str,
) -> Result<render::Rendered, Failure> {
    let progress = bar(0, what);
    let rendered = render::run(
        request,
        engines,
        &|done, total| {
            progress.set_length(total as u64);
            progress.set_position(done as u64);
        },
        &Default::default(),
    )
    .map_err(failed)?;
    progress.finish_and_clear();
    Ok(rendered)
}

pub fn take_in(photos: &[PathBuf], config: &Config) -> lifelapse::album::Album {
    let progress = bar(0, "photos");
    let options = lifelapse::album::IntakeOptions::from_config(&config.album);
    let album = lifelapse::album::intake_paths(photos, &options, &|| progress.inc(1), &|n| {
        progress.set_length(n as u64)
    });
    progress.finish_and_clear();
    album
}

pub fn load_analyzer(config: &Config) -> Result<lifelapse::face::FaceAnalyzer, Failure> {
    lifelapse::face::FaceAnalyzer::load_configured(device_of(config)?, &config.faces)
        .map_err(|e| fail(exit::FAILURE)(e.into()))
}

/// The faces of every photo, with a progress bar.
pub fn faces_with(
    album: &lifelapse::album::Album,
    analyzer: &lifelapse::face::FaceAnalyzer,
) -> Vec<Vec<lifelapse::face::Face>> {
    let progress = bar(album.photos.len() as u64, "faces");
    let faces = analyzer.analyze_album(album, &|| progress.inc(1));
    progress.finish_and_clear();
    faces
}

/// Photos taken in (problems on stderr), their faces found and judged.
pub fn analyzed_album(
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

pub fn print_problems(album: &lifelapse::album::Album) {
    for r in &album.rejected {
        eprintln!(
            "skipped {}: {}",
            r.source,
            lifelapse::chain::Chain(&r.error)
        );
    }
    for d in &album.duplicates {
        eprintln!("skipped {}: duplicate of {}", d.source, d.of);
    }
}

/// What the user says about ages and which faces to keep (analyze and render alike).
#[derive(clap::Args)]
pub struct FaceChoice {
    /// Birth date (YYYY-MM-DD): ages come from capture date minus this.
    #[arg(long, value_name = "DATE", value_parser = parse_birth_date)]
    pub born: Option<NaiveDate>,
    /// Fix a photo's age by hand: NAME=YEARS (file name or path), repeatable.
    #[arg(long = "age", value_name = "NAME=YEARS", value_parser = parse_age)]
    pub ages: Vec<(String, f64)>,
    /// Keep only the best face of each day, week, month or year (dated photos).
    #[arg(long, value_name = "PERIOD", value_enum)]
    pub per: Option<select::Period>,
}

impl FaceChoice {
    pub fn ages(&self) -> select::AgeFacts {
        select::AgeFacts {
            born: self.born,
            fixed: self.ages.clone(),
        }
    }
}

/// A birth date; one after today is refused, since every capture date would come before it
/// and the album's dates would be quietly left unused.
pub fn parse_birth_date(s: &str) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a date like 1990-04-30"))?;
    if date > chrono::Local::now().date_naive() {
        return Err(format!("{date} is in the future"));
    }
    Ok(date)
}

pub fn parse_age(s: &str) -> Result<(String, f64), String> {
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

pub fn parse_size(s: &str) -> Result<u32, String> {
    match s {
        "256" | "512" | "1024" => s.parse().map_err(|_| s.to_string()),
        _ => Err(format!("{s} is not one of 256, 512, 1024")),
    }
}
