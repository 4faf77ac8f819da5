//! Openverse: a keyless search of openly licensed images (from Flickr, museums, Wikimedia and
//! other collections), each with its licence, creator and landing page — the source of
//! childhood photos for deployments without a keyed image search. Results carry no capture
//! dates, so their ages come from the age network. Anonymous clients are rate-limited, so one
//! page is asked per query.

use super::fetch::Fetcher;
use super::{Candidate, CrawlError};
use serde_json::Value;

pub fn candidates(
    fetch: &Fetcher,
    base: &str,
    name: &str,
    per_query: usize,
) -> Result<Vec<Candidate>, CrawlError> {
    let page_size = per_query.clamp(1, 20).to_string();
    super::search_results(
        fetch,
        &super::endpoint(base, "v1/images/")?,
        name,
        &[("page_size", &page_size), ("mature", "false")],
        &[],
        candidate_of,
    )
}

/// A photo from one search result.
fn candidate_of(result: &Value) -> Option<Candidate> {
    let url = result["url"].as_str()?;
    let licence = result["license"].as_str()?;
    Some(Candidate {
        url: url.to_string(),
        page: result["foreign_landing_url"].as_str().map(str::to_string),
        provider: "openverse",
        title: result["title"].as_str().map(str::to_string),
        licence: Some(licence_name(licence, result["license_version"].as_str())),
        attribution: result["creator"].as_str().map(str::to_string),
        // Only the public-domain dedication and mark ask for no credit.
        attribution_required: !matches!(licence, "cc0" | "pdm"),
        date: None,
    })
}

/// The licence as people write it: "CC BY-SA 2.0", "CC0 1.0", "Public Domain Mark 1.0".
fn licence_name(code: &str, version: Option<&str>) -> String {
    let name = match code {
        "pdm" => "Public Domain Mark".to_string(),
        "cc0" => "CC0".to_string(),
        other => format!("CC {}", other.to_ascii_uppercase()),
    };
    match version {
        Some(v) if !v.is_empty() => format!("{name} {v}"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One result as the API answers it (fields and their meaning from the API's published
    /// Image schema, https://api.openverse.org/v1/schema/Image).
    fn result(license: &str, version: &str) -> Value {
        serde_json::json!({
            "id": "4bc43a04-ef46-4544-a0c1-63c63f56e276",
            "title": "Steve Carell at the premiere",
            "indexed_on": "2020-04-17T02:07:28.453826Z",
            "foreign_landing_url": "https://www.flickr.com/photos/example/123",
            "url": "https://live.staticflickr.com/65535/123_abc_b.jpg",
            "creator": "Gage Skidmore",
            "creator_url": "https://www.flickr.com/photos/example",
            "license": license,
            "license_version": version,
            "license_url": "https://creativecommons.org/licenses/by-sa/2.0/",
            "provider": "flickr",
            "source": "flickr",
            "filetype": "jpg",
            "mature": false,
            "thumbnail": "https://api.openverse.org/v1/images/4bc43a04/thumb/",
            "width": 1024,
            "height": 683
        })
    }

    #[test]
    fn a_result_keeps_its_licence_creator_and_page() {
        let c = candidate_of(&result("by-sa", "2.0")).expect("a photo");
        assert_eq!(c.licence.as_deref(), Some("CC BY-SA 2.0"));
        assert_eq!(c.attribution.as_deref(), Some("Gage Skidmore"));
        assert!(c.attribution_required);
        assert_eq!(
            c.page.as_deref(),
            Some("https://www.flickr.com/photos/example/123")
        );
        assert_eq!(c.date, None);
        let pd = candidate_of(&result("pdm", "1.0")).expect("a photo");
        assert_eq!(pd.licence.as_deref(), Some("Public Domain Mark 1.0"));
        assert!(!pd.attribution_required);
        let mut no_url = result("by", "4.0");
        no_url["url"] = Value::Null;
        assert!(candidate_of(&no_url).is_none());
    }
}
