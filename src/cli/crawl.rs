//! `lifelapse crawl`: find dated photos of a person by name.

use super::common::{fail, failed, print_json, Failure};
use super::exit;
use lifelapse::config::Config;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args, config: Config) -> Result<(), Failure> {
    let Args {
        name,
        output,
        max,
        json,
    } = args;
    let result = crawl_into(&name, &output, &config, max)?;
    if json {
        print_json(&result, "manifest")?;
    } else {
        print!("{result}");
        for s in &result.skipped {
            eprintln!("skipped {}: {}", s.url, s.reason);
        }
        println!("{} photos in {}", result.photos.len(), output.display());
    }
    Ok(())
}

/// A folder name for a person's name.
pub fn slug(name: &str) -> String {
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

/// Crawls `name` into `dir` (replacing an earlier crawl there).
pub fn crawl_into(
    name: &str,
    dir: &std::path::Path,
    config: &Config,
    max: Option<usize>,
) -> Result<lifelapse::crawl::CrawlResult, Failure> {
    use lifelapse::crawl;
    let mut options =
        crawl::CrawlOptions::from_config(config, &lifelapse::config::Secrets::from_env());
    if let Some(max) = max {
        options.max_photos = max.max(1);
    }
    eprintln!("looking for photos of {name}…");
    let mut result = crawl::crawl(name, &options).map_err(failed)?;
    crawl::save(&mut result, dir).map_err(|e| fail(exit::OUTPUT)(e.into()))?;
    Ok(result)
}
