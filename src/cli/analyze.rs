//! `lifelapse analyze`: show what lifelapse finds in each photo.

use super::common::{
    faces_with, fail, load_analyzer, print_problems, take_in, FaceChoice, Failure,
};
use super::exit;
use anyhow::Context;
use lifelapse::config::Config;
use lifelapse::select::{self, AnalyzedAlbum};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args, config: Config) -> Result<(), Failure> {
    let Args {
        photos,
        choice,
        json,
        out_dir,
    } = args;
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
        print!("{report}");
        print_problems(&analyzed.album);
    }
    if analyzed.album.photos.is_empty() {
        return Err(fail(exit::INPUT)(anyhow::anyhow!("no usable photos")));
    }
    Ok(())
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
