//! A person's name → dated photos of them: Wikidata for who they are and when they were born,
//! Wikimedia Commons for dated, licensed photos, and a keyed image search when configured. The
//! providers run in parallel; candidates are merged, downloaded through the guarded
//! [`fetch::Fetcher`], checked to be images, de-duplicated by content and spread over the years.

pub mod brave;
pub mod fetch;
pub mod google_cse;
pub mod openverse;
pub mod wikimedia;

use crate::config::{Config, Secret, Secrets};
use chrono::{Datelike, NaiveDate};
use fetch::{FetchError, FetchOptions, Fetcher};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("nobody called {0:?} was found on Wikidata, and no image search is configured")]
    UnknownName(String),
    #[error("no photos of {0} could be found")]
    NoPhotos(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A MediaWiki API error, which comes with HTTP 200 (`{"error": {"code", "info"}}`).
    #[error("{url}: the API answered {code}: {info}")]
    Api {
        url: String,
        code: String,
        info: String,
    },
    #[error("{0}")]
    Provider(String),
    #[error("crawl settings: {0}")]
    Config(String),
    #[error("set [crawl] contact (LIFELAPSE_CRAWL_CONTACT) to an email address or web page where the people running lifelapse can be reached: Wikimedia blocks clients that give none")]
    NoContact,
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// The person a name resolved to.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    /// Wikidata id (empty when the name was not resolved).
    pub id: String,
    pub label: String,
    pub description: Option<String>,
    pub born: Option<NaiveDate>,
    /// Commons file name of the portrait.
    pub image: Option<String>,
    pub commons_category: Option<String>,
}

/// Another person the name could mean.
#[derive(Debug, Clone, Serialize)]
pub struct PersonSummary {
    pub id: String,
    pub label: String,
    pub description: Option<String>,
}

/// A photo a provider proposes.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub url: String,
    /// The page that describes the photo (its licence and author).
    pub page: Option<String>,
    pub provider: &'static str,
    pub title: Option<String>,
    pub licence: Option<String>,
    pub attribution: Option<String>,
    /// The source requires the attribution to be shown with the photo.
    pub attribution_required: bool,
    /// When the photo was taken, where the source says.
    pub date: Option<NaiveDate>,
}

/// A downloaded photo.
#[derive(Debug, Clone, Serialize)]
pub struct CrawledPhoto {
    #[serde(flatten)]
    pub candidate: Candidate,
    /// Age in years from the photo's date and the birth date, where both are known.
    pub age: Option<f64>,
    pub sha256: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Set once saved.
    pub file: Option<String>,
}

/// A candidate that was not kept, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub url: String,
    pub reason: String,
}

impl std::fmt::Display for CrawlResult {
    /// The person found and each photo kept (date, age, source), as lines for a person.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = &self.person;
        writeln!(
            out,
            "{} ({}{}), born {}",
            p.label,
            p.id,
            p.description
                .as_deref()
                .map(|d| format!(", {d}"))
                .unwrap_or_default(),
            p.born.map_or("unknown".into(), |b| b.to_string())
        )?;
        for a in &self.alternatives {
            writeln!(
                out,
                "  also: {} ({}){}",
                a.label,
                a.id,
                a.description
                    .as_deref()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default()
            )?;
        }
        for photo in &self.photos {
            writeln!(
                out,
                "{}  {}  age {}  {}",
                photo.file.as_deref().unwrap_or("-"),
                photo
                    .candidate
                    .date
                    .map_or("undated   ".into(), |d| d.to_string()),
                photo.age.map_or("?".into(), |a| format!("{a:.1}")),
                photo.candidate.url
            )?;
        }

        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CrawlResult {
    pub person: Person,
    pub alternatives: Vec<PersonSummary>,
    pub photos: Vec<CrawledPhoto>,
    pub skipped: Vec<Skipped>,
    /// Wall time of the crawl and the sum of its downloads' times (their ratio shows the
    /// parallelism).
    pub wall_ms: u64,
    pub download_ms_sum: u64,
}

/// Where the providers are and how to fetch.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    pub wikidata_url: String,
    pub commons_url: String,
    pub search_url: String,
    /// The keyless Openverse image search; empty leaves it out.
    pub openverse_url: String,
    pub brave_url: String,
    /// The Brave Search API key; the search is left out without one.
    pub brave_key: Option<Secret>,
    pub search_key: Option<Secret>,
    pub search_engine: Option<Secret>,
    pub fetch: FetchOptions,
    pub max_photos: usize,
    /// How the people running lifelapse can be reached (`[crawl] contact`); also in
    /// `fetch.user_agent`.
    pub contact: String,
}

impl CrawlOptions {
    pub fn from_config(config: &Config, secrets: &Secrets) -> Self {
        let c = &config.crawl;
        Self {
            wikidata_url: c.wikidata_url.clone(),
            commons_url: c.commons_url.clone(),
            search_url: c.search_url.clone(),
            openverse_url: c.openverse_url.trim().to_string(),
            brave_url: c.brave_url.clone(),
            brave_key: secrets.brave_api_key.clone(),
            search_key: secrets.search_api_key.clone(),
            search_engine: secrets.search_engine_id.clone(),
            fetch: FetchOptions {
                allow_hosts: c
                    .allow_hosts
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string)
                    .collect(),
                max_bytes: c.max_mb << 20,
                timeout: Duration::from_secs_f64(c.timeout_s.max(0.1)),
                max_concurrent: c.concurrency.max(1),
                max_per_host: c.per_host.max(1),
                user_agent: fetch::user_agent(&c.contact),
                ..FetchOptions::default()
            },
            max_photos: c.max_photos.max(1),
            contact: c.contact.trim().to_string(),
        }
    }
}

fn age_at(born: Option<NaiveDate>, date: Option<NaiveDate>) -> Option<f64> {
    let days = (date? - born?).num_days();
    (days >= 0).then(|| days as f64 / 365.2425)
}

/// Finds, downloads and de-duplicates photos of `name`.
/// A provider's API endpoint: `path` under its configured base URL.
fn endpoint(base: &str, path: &str) -> Result<url::Url, CrawlError> {
    url::Url::parse(base)
        .and_then(|u| u.join(path))
        .map_err(|_| CrawlError::Config(format!("{base} is not a URL")))
}

/// Asks an image search at `endpoint` each of the seed's queries for `name` (the query as `q`,
/// beside `params`, with `headers` sent) and reads the photos of every answer's `results` with
/// `candidate_of`.
fn search_results(
    fetch: &Fetcher,
    endpoint: &url::Url,
    name: &str,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
    candidate_of: fn(&serde_json::Value) -> Option<Candidate>,
) -> Result<Vec<Candidate>, CrawlError> {
    let mut out = Vec::new();
    for q in search_queries(name) {
        let mut url = endpoint.clone();
        url.query_pairs_mut()
            .append_pair("q", &q)
            .extend_pairs(params);
        let answer = fetch.get_json_with(url.as_str(), headers)?;
        out.extend(
            answer["results"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(candidate_of),
        );
    }
    Ok(out)
}

/// The queries the seed sent to image searches: they reach childhood photos a plain name search
/// misses.
pub fn search_queries(name: &str) -> [String; 4] {
    [
        format!("photo of {name} as a kid"),
        format!("{name} as a teenager"),
        format!("young {name}"),
        name.to_string(),
    ]
}

pub fn crawl(name: &str, options: &CrawlOptions) -> Result<CrawlResult, CrawlError> {
    let start = Instant::now();
    let name = name.trim();
    if name.is_empty() {
        return Err(CrawlError::UnknownName(String::new()));
    }
    // Wikidata resolves every name, so nothing is asked of Wikimedia without a contact.
    if options.contact.is_empty() {
        return Err(CrawlError::NoContact);
    }
    let fetcher = Fetcher::new(options.fetch.clone());
    let searchable = (options.search_key.is_some() && options.search_engine.is_some())
        || options.brave_key.is_some()
        || !options.openverse_url.is_empty();
    let (person, alternatives) = match wikimedia::resolve(&fetcher, &options.wikidata_url, name) {
        Ok(found) => found,
        Err(CrawlError::UnknownName(_)) if searchable => (
            Person {
                id: String::new(),
                label: name.to_string(),
                description: None,
                born: None,
                image: None,
                commons_category: None,
            },
            Vec::new(),
        ),
        Err(e) => return Err(e),
    };
    tracing::info!("{name:?} is {} ({})", person.label, person.id);

    // The providers, in parallel.
    let max = options.max_photos;
    let ((commons, brave), (search, openverse)) = rayon::join(
        || {
            rayon::join(
                || {
                    if person.id.is_empty() {
                        Ok(Vec::new())
                    } else {
                        wikimedia::commons_candidates(&fetcher, &options.commons_url, &person, max)
                    }
                },
                || match &options.brave_key {
                    Some(key) => {
                        brave::candidates(&fetcher, &options.brave_url, key, &person.label, 10)
                    }
                    None => Ok(Vec::new()),
                },
            )
        },
        || {
            rayon::join(
                || match (&options.search_key, &options.search_engine) {
                    (Some(key), Some(engine)) => google_cse::candidates(
                        &fetcher,
                        &options.search_url,
                        key,
                        engine,
                        &person.label,
                        10,
                    ),
                    _ => Ok(Vec::new()),
                },
                || match options.openverse_url.as_str() {
                    "" => Ok(Vec::new()),
                    base => openverse::candidates(&fetcher, base, &person.label, 10),
                },
            )
        },
    );
    let mut skipped = Vec::new();
    let mut candidates = Vec::new();
    for (provider, result) in [
        ("commons", commons),
        ("search", search),
        ("brave", brave),
        ("openverse", openverse),
    ] {
        match result {
            Ok(c) => candidates.extend(c),
            // One provider failing leaves the others' photos.
            Err(e) => skipped.push(Skipped {
                url: provider.to_string(),
                reason: e.to_string(),
            }),
        }
    }
    // Merge by URL; dated candidates first, spread over the years.
    let mut seen = HashSet::new();
    candidates.retain(|c| seen.insert(c.url.clone()));
    let candidates = spread_over_years(candidates);

    // Download more than needed: some are duplicates, broken or not images.
    let wanted: Vec<Candidate> = candidates.into_iter().take(max * 2).collect();
    let downloads = download_all(&fetcher, wanted);
    let mut photos = Vec::new();
    let mut hashes = HashSet::new();
    let mut download_ms_sum = 0;
    for (candidate, result) in downloads {
        match result {
            Ok(fetched) => {
                download_ms_sum += fetched.elapsed.as_millis() as u64;
                let sha256 = crate::leaves::hash::content_hash(&fetched.bytes);
                if !hashes.insert(sha256.clone()) {
                    skipped.push(Skipped {
                        url: candidate.url,
                        reason: "the same image as another result".into(),
                    });
                    continue;
                }
                if photos.len() >= max {
                    continue;
                }
                photos.push(CrawledPhoto {
                    age: age_at(person.born, candidate.date),
                    candidate,
                    sha256,
                    bytes: fetched.bytes,
                    file: None,
                });
            }
            Err(e) => skipped.push(Skipped {
                url: candidate.url,
                reason: e.to_string(),
            }),
        }
    }
    if photos.is_empty() {
        return Err(CrawlError::NoPhotos(person.label));
    }
    Ok(CrawlResult {
        person,
        alternatives,
        photos,
        skipped,
        wall_ms: start.elapsed().as_millis() as u64,
        download_ms_sum,
    })
}

type Download = (Candidate, Result<fetch::Fetched, FetchError>);

/// Downloads on as many threads as the fetcher allows at once (downloads wait on the network,
/// so they are not rayon work); results keep the candidates' order.
fn download_all(fetcher: &Fetcher, wanted: Vec<Candidate>) -> Vec<Download> {
    let threads = fetcher
        .options()
        .max_concurrent
        .clamp(1, 32)
        .min(wanted.len().max(1));
    let queue = std::sync::Mutex::new(wanted.into_iter().enumerate().collect::<Vec<_>>());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((i, c)) = next else { break };
                let r = fetcher.get_image(&c.url);
                done.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, c, r));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _, _)| *i);
    done.into_iter().map(|(_, c, r)| (c, r)).collect()
}

/// Dated candidates round-robin over their years (so a career's every decade is represented
/// before any year gets a second photo), then the undated ones.
fn spread_over_years(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut by_year: BTreeMap<i32, Vec<Candidate>> = BTreeMap::new();
    let mut undated = Vec::new();
    for c in candidates {
        match c.date {
            Some(d) => by_year.entry(d.year()).or_default().push(c),
            None => undated.push(c),
        }
    }
    let mut out = Vec::new();
    let mut queues: Vec<std::collections::VecDeque<Candidate>> =
        by_year.into_values().map(Into::into).collect();
    while queues.iter().any(|q| !q.is_empty()) {
        for q in &mut queues {
            if let Some(c) = q.pop_front() {
                out.push(c);
            }
        }
    }
    out.extend(undated);
    out
}

/// Writes the photos into `dir` (`NN-<hash>.<ext>`) with `manifest.json` (person, and per photo
/// its file, URL, page, licence, attribution, date and age), replacing an earlier crawl saved
/// there. Returns the manifest's path.
pub fn save(result: &mut CrawlResult, dir: &Path) -> Result<PathBuf, CrawlError> {
    let write_err = |path: &Path, e: std::io::Error| CrawlError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| write_err(dir, e))?;
    if dir.join("manifest.json").is_file() {
        // A fresh crawl replaces the last one's photos; files that cannot go are overwritten
        // or left, and the new manifest names only the new photos.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for (i, photo) in result.photos.iter_mut().enumerate() {
        let ext = crate::album::sniff(&photo.bytes)
            .unwrap_or(crate::album::PhotoFormat::Jpeg)
            .extension();
        let file = format!("{:02}-{}.{ext}", i + 1, &photo.sha256[..12]);
        let path = dir.join(&file);
        std::fs::write(&path, &photo.bytes).map_err(|e| write_err(&path, e))?;
        photo.file = Some(file);
    }
    let manifest = dir.join("manifest.json");
    let text = serde_json::to_string_pretty(result).map_err(|e| CrawlError::Write {
        path: manifest.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&manifest, text).map_err(|e| write_err(&manifest, e))?;
    Ok(manifest)
}

/// The attribution lines a reply must carry: one per photo whose source requires it.
pub fn attributions(result: &CrawlResult) -> Vec<String> {
    result
        .photos
        .iter()
        .filter(|p| p.candidate.attribution_required || p.candidate.licence.is_some())
        .map(|p| {
            let c = &p.candidate;
            let mut line = c.title.clone().unwrap_or_else(|| c.url.clone());
            if let Some(a) = &c.attribution {
                line += &format!(" by {a}");
            }
            if let Some(l) = &c.licence {
                line += &format!(", {l}");
            }
            if let Some(page) = &c.page {
                line += &format!(" ({page})");
            }
            line
        })
        .collect()
}
