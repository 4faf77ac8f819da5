//! A keyed web image search open to new customers: the Brave Search API's image search, used
//! when `LIFELAPSE_CRAWL_BRAVE_API_KEY` is set (environment only). Its "Data for Search" plans
//! forbid using answers for AI inference, and lifelapse runs face networks on the photos found:
//! use a "Data for AI" plan key. The seed's four queries; results carry no dates or licences,
//! so their ages come from the age network and their credit is the site they came from.

use super::fetch::Fetcher;
use super::{Candidate, CrawlError};
use crate::config::Secret;
use serde_json::Value;

pub fn candidates(
    fetch: &Fetcher,
    base: &str,
    key: &Secret,
    name: &str,
    per_query: usize,
) -> Result<Vec<Candidate>, CrawlError> {
    let count = per_query.clamp(1, 200).to_string();
    // The key travels in a header, so errors may name the URL.
    super::search_results(
        fetch,
        &super::endpoint(base, "res/v1/images/search")?,
        name,
        &[("count", &count), ("safesearch", "strict")],
        &[("X-Subscription-Token", key.expose())],
        candidate_of,
    )
}

/// A photo from one result: `properties.url` is the image, `url` the page it is on.
fn candidate_of(result: &Value) -> Option<Candidate> {
    let image = result["properties"]["url"].as_str()?;
    Some(Candidate {
        url: image.to_string(),
        page: result["url"].as_str().map(str::to_string),
        provider: "brave",
        title: result["title"].as_str().map(str::to_string),
        licence: None,
        attribution: result["source"].as_str().map(str::to_string),
        attribution_required: true,
        date: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_gives_the_image_its_page_and_site() {
        // The shape of the API's published ImageResult.
        let result = serde_json::json!({
            "type": "image_result",
            "title": "Steve Carell as a teenager",
            "url": "https://news.example/carell-yearbook",
            "source": "news.example",
            "page_fetched": "2024-05-01T10:00:00Z",
            "thumbnail": {"src": "https://imgs.search.brave.com/abc", "width": 500, "height": 375},
            "properties": {"url": "https://news.example/img/carell-1980.jpg", "placeholder": "https://imgs.search.brave.com/p", "width": 800, "height": 600},
            "meta_url": {"scheme": "https", "netloc": "news.example", "hostname": "news.example", "path": "› carell-yearbook"},
            "confidence": "high"
        });
        let c = candidate_of(&result).expect("a photo");
        assert_eq!(c.url, "https://news.example/img/carell-1980.jpg");
        assert_eq!(
            c.page.as_deref(),
            Some("https://news.example/carell-yearbook")
        );
        assert_eq!(c.attribution.as_deref(), Some("news.example"));
        assert!(c.licence.is_none() && c.date.is_none());
        let mut no_image = result.clone();
        no_image["properties"] = Value::Null;
        assert!(candidate_of(&no_image).is_none());
    }
}
