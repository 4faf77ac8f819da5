//! A keyed web image search (Google Programmable Search), used only when its API key and engine
//! id are configured (both from the environment). The seed's four queries; results carry no
//! dates, so their ages come from the age network.

use super::fetch::Fetcher;
use super::{Candidate, CrawlError};
use crate::config::Secret;
use url::Url;

pub fn candidates(
    fetch: &Fetcher,
    base: &str,
    key: &Secret,
    engine: &Secret,
    name: &str,
    per_query: usize,
) -> Result<Vec<Candidate>, CrawlError> {
    let mut out = Vec::new();
    for q in super::search_queries(name) {
        let mut url =
            Url::parse(base).map_err(|_| CrawlError::Config(format!("{base} is not a URL")))?;
        url.query_pairs_mut()
            .append_pair("key", key.expose())
            .append_pair("cx", engine.expose())
            .append_pair("q", &q)
            .append_pair("searchType", "image")
            .append_pair("num", &per_query.clamp(1, 10).to_string());
        // The key is in the URL: errors name the search, never the URL.
        let results = fetch.get_json(url.as_str()).map_err(|e| {
            CrawlError::Provider(format!(
                "image search for {q:?} failed: {}",
                redact(&e.to_string(), key)
            ))
        })?;
        for item in results["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let Some(link) = item["link"].as_str() else {
                continue;
            };
            out.push(Candidate {
                url: link.to_string(),
                page: item["image"]["contextLink"].as_str().map(str::to_string),
                provider: "search",
                title: item["title"].as_str().map(str::to_string),
                licence: None,
                attribution: item["displayLink"].as_str().map(str::to_string),
                attribution_required: true,
                date: None,
            });
        }
    }
    Ok(out)
}

fn redact(text: &str, key: &Secret) -> String {
    text.replace(key.expose(), "***")
}
