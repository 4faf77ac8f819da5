//! `lifelapse bench crawl`: a 40-candidate crawl against local stand-ins for Wikidata, Commons
//! and a photo host, with latency injected into every answer, to show that downloads overlap
//! (wall time against the sum of the requests' times).

use super::BenchError;
use crate::crawl::{self, fetch::FetchOptions, CrawlOptions};
use lifelapse_test_support::http::{FakeServer, Reply, Request};
use serde::Serialize;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Serialize)]
pub struct CrawlBench {
    pub candidates: usize,
    pub photos: usize,
    pub latency_ms: u64,
    pub concurrency: usize,
    pub per_host: usize,
    pub wall_ms: u64,
    /// Sum of the downloads' own times.
    pub download_ms_sum: u64,
    /// download_ms_sum / wall_ms.
    pub overlap: f64,
}

fn server(
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> Result<FakeServer, BenchError> {
    FakeServer::start(handler).map_err(|e| BenchError::Input(format!("local server: {e}")))
}

pub fn run(samples: &Path, latency: Duration) -> Result<CrawlBench, BenchError> {
    let n: usize = 40;
    let (files, _) = crate::album::expand_paths(&[samples.to_path_buf()]);
    let images: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|f| std::fs::read(f).ok())
        .filter(|b| crate::album::sniff(b).is_some())
        .collect();
    if images.is_empty() {
        return Err(BenchError::Input(format!(
            "no photos in {}",
            samples.display()
        )));
    }
    let images = std::sync::Arc::new(images);
    // Four photo hosts, as a crawl meets several sites.
    let hosts = (0..4)
        .map(|_| {
            let images = images.clone();
            server(move |r: &Request| {
                let i: usize = r
                    .path
                    .trim_start_matches("/p")
                    .trim_end_matches(".jpg")
                    .parse()
                    .unwrap_or(0);
                // Each candidate a distinct file: the sample's bytes plus its number.
                let mut bytes = images[i % images.len()].clone();
                bytes.extend_from_slice(format!("{i}").as_bytes());
                Reply::bytes("image/jpeg", bytes).after(latency)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bases: Vec<String> = hosts.iter().map(FakeServer::url).collect();
    let wikidata = server(move |r: &Request| {
        let reply = match r.param("action") {
            Some("wbsearchentities") => Reply::json(json!({"search": [{"id": "Q1"}]})),
            _ => Reply::json(json!({"entities": {"Q1": {
                "labels": {"en": {"value": "Bench Person"}},
                "sitelinks": {},
                "claims": {
                    "P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}],
                    "P569": [{"mainsnak": {"datavalue": {"value": {"time": "+1960-01-01T00:00:00Z", "precision": 11}}}}],
                    "P373": [{"mainsnak": {"datavalue": {"value": "Bench Person"}}}]
                }
            }}})),
        };
        reply.after(latency)
    })?;
    let commons = server(move |r: &Request| {
        let bases = &bases;
        let reply = if r.param("list").is_some() {
            let members: Vec<_> = (0..n)
                .map(|i| json!({"ns": 6, "title": format!("File:P{i}.jpg")}))
                .collect();
            Reply::json(json!({"query": {"categorymembers": members}}))
        } else {
            let mut pages = serde_json::Map::new();
            for (k, title) in r.param("titles").unwrap_or("").split('|').enumerate() {
                let i: usize = title
                    .trim_start_matches("File:P")
                    .trim_end_matches(".jpg")
                    .parse()
                    .unwrap_or(0);
                pages.insert(k.to_string(), json!({"title": title, "imageinfo": [{
                    "url": format!("{}/p{i}.jpg", bases[i % bases.len()]), "mime": "image/jpeg",
                    "extmetadata": {"DateTimeOriginal": {"value": format!("{}-06-01", 1970 + i)}}
                }]}));
            }
            Reply::json(json!({"query": {"pages": pages}}))
        };
        reply.after(latency)
    })?;
    let mut allow_hosts: Vec<String> = hosts.iter().map(FakeServer::host).collect();
    allow_hosts.extend([wikidata.host(), commons.host()]);
    let fetch = FetchOptions {
        allow_hosts,
        ..FetchOptions::default()
    };
    let options = CrawlOptions {
        wikidata_url: wikidata.url(),
        commons_url: commons.url(),
        search_url: String::new(),
        openverse_url: String::new(),
        brave_url: String::new(),
        brave_key: None,
        search_key: None,
        search_engine: None,
        max_photos: n / 2,
        fetch: fetch.clone(),
        contact: "bench@lifelapse.invalid".into(),
    };
    let result = crawl::crawl("Bench Person", &options)
        .map_err(|e| BenchError::Input(format!("crawl: {e}")))?;
    Ok(CrawlBench {
        candidates: n,
        photos: result.photos.len(),
        latency_ms: latency.as_millis() as u64,
        concurrency: fetch.max_concurrent,
        per_host: fetch.max_per_host,
        wall_ms: result.wall_ms,
        download_ms_sum: result.download_ms_sum,
        overlap: result.download_ms_sum as f64 / result.wall_ms.max(1) as f64,
    })
}
