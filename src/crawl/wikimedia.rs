//! Keyless providers: Wikidata resolves a name to a person (birth date, portrait, Commons
//! category), Wikimedia Commons lists that person's photos with capture dates and licences.

use super::fetch::Fetcher;
use super::{Candidate, CrawlError, Person, PersonSummary};
use chrono::NaiveDate;
use serde_json::Value;
use url::Url;

/// Wikidata's item for "human" (P31 instance of Q5).
const HUMAN: &str = "Q5";

fn api(base: &str, params: &[(&str, &str)]) -> Result<String, CrawlError> {
    let mut url = Url::parse(base)
        .and_then(|u| u.join("w/api.php"))
        .map_err(|_| CrawlError::Config(format!("{base} is not a URL")))?;
    url.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("format", "json");
    Ok(url.to_string())
}

fn claim<'a>(entity: &'a Value, property: &str) -> Option<&'a Value> {
    entity["claims"][property]
        .as_array()?
        .first()
        .map(|c| &c["mainsnak"]["datavalue"]["value"])
}

/// A Wikidata time value ("+1961-08-04T00:00:00Z", precision 11 = day) as a date.
fn wikidata_date(v: &Value) -> Option<NaiveDate> {
    let time = v["time"].as_str()?.trim_start_matches('+');
    let precision = v["precision"].as_i64().unwrap_or(11);
    let (y, rest) = time.split_once('-')?;
    let mut parts = rest.split(['-', 'T']);
    let year: i32 = y.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    match precision {
        p if p >= 11 => NaiveDate::from_ymd_opt(year, month.max(1), day.max(1)),
        10 => NaiveDate::from_ymd_opt(year, month.max(1), 15),
        // A year only: the middle of it, so ages are off by at most half a year.
        _ => NaiveDate::from_ymd_opt(year, 7, 1),
    }
}

/// Resolves `name` to the most linked human on Wikidata; other humans found are alternatives.
pub fn resolve(
    fetch: &Fetcher,
    base: &str,
    name: &str,
) -> Result<(Person, Vec<PersonSummary>), CrawlError> {
    let search = fetch.get_json(&api(
        base,
        &[
            ("action", "wbsearchentities"),
            ("search", name),
            ("language", "en"),
            ("type", "item"),
            ("limit", "10"),
        ],
    )?)?;
    let ids: Vec<String> = search["search"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(CrawlError::UnknownName(name.to_string()));
    }
    let entities = fetch.get_json(&api(
        base,
        &[
            ("action", "wbgetentities"),
            ("ids", &ids.join("|")),
            ("props", "claims|labels|descriptions|sitelinks"),
            ("languages", "en"),
        ],
    )?)?;
    let mut humans: Vec<(usize, Person)> = ids
        .iter()
        .filter_map(|id| {
            let e = &entities["entities"][id];
            let is_human = e["claims"]["P31"]
                .as_array()?
                .iter()
                .any(|c| c["mainsnak"]["datavalue"]["value"]["id"] == HUMAN);
            if !is_human {
                return None;
            }
            let links = e["sitelinks"].as_object().map_or(0, |m| m.len());
            Some((
                links,
                Person {
                    id: id.clone(),
                    label: e["labels"]["en"]["value"]
                        .as_str()
                        .unwrap_or(name)
                        .to_string(),
                    description: e["descriptions"]["en"]["value"]
                        .as_str()
                        .map(str::to_string),
                    born: claim(e, "P569").and_then(wikidata_date),
                    image: claim(e, "P18").and_then(Value::as_str).map(str::to_string),
                    commons_category: claim(e, "P373").and_then(Value::as_str).map(str::to_string),
                },
            ))
        })
        .collect();
    // Most linked first; ties keep the search's order.
    humans.sort_by_key(|h| std::cmp::Reverse(h.0));
    let mut people = humans.into_iter().map(|(_, p)| p);
    let person = people
        .next()
        .ok_or_else(|| CrawlError::UnknownName(name.to_string()))?;
    let alternatives = people
        .map(|p| PersonSummary {
            id: p.id,
            label: p.label,
            description: p.description,
        })
        .collect();
    Ok((person, alternatives))
}

/// The first date in free text ("2009-01-20 12:00:00", "20 January 2009", "2009"): year, and
/// month and day where given as numbers.
fn text_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    for i in 0..bytes.len().saturating_sub(3) {
        let digits = &bytes[i..i + 4];
        let boundary = i == 0 || !bytes[i - 1].is_ascii_digit();
        if !boundary || !digits.iter().all(u8::is_ascii_digit) {
            continue;
        }
        if bytes.get(i + 4).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        let year: i32 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if !(1850..=2100).contains(&year) {
            continue;
        }
        let rest = &text[i + 4..];
        let mut nums = rest
            .strip_prefix('-')
            .map(|r| r.split(|c: char| !c.is_ascii_digit()).take(2));
        let month = nums.as_mut().and_then(|n| n.next()?.parse::<u32>().ok());
        let day = nums.as_mut().and_then(|n| n.next()?.parse::<u32>().ok());
        return match (month, day) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d),
            (Some(m), None) => NaiveDate::from_ymd_opt(year, m, 15),
            _ => NaiveDate::from_ymd_opt(year, 7, 1),
        };
    }
    None
}

fn strip_html(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The year a category's name is about ("Barack Obama in 2009"), if any.
fn category_year(title: &str) -> Option<i32> {
    text_date(title).map(|d| chrono::Datelike::year(&d))
}

/// Photos of `person` on Commons: the portrait, the files in the person's category, and the
/// files of its dated sub-categories, spread over the years.
pub fn commons_candidates(
    fetch: &Fetcher,
    base: &str,
    person: &Person,
    max: usize,
) -> Result<Vec<Candidate>, CrawlError> {
    let mut files: Vec<String> = person.image.iter().map(|f| format!("File:{f}")).collect();
    if let Some(category) = &person.commons_category {
        let (direct, subcats) = members(fetch, base, &format!("Category:{category}"))?;
        files.extend(direct);
        // Dated sub-categories, one round over the years at a time.
        let mut dated: Vec<(i32, String)> = subcats
            .into_iter()
            .filter_map(|c| Some((category_year(&c)?, c)))
            .collect();
        dated.sort();
        for (_, sub) in dated.iter().take(max) {
            let (in_sub, _) = members(fetch, base, sub)?;
            files.extend(in_sub.into_iter().take(3));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    let mut out = Vec::new();
    for chunk in files.chunks(50) {
        let info = fetch.get_json(&api(
            base,
            &[
                ("action", "query"),
                ("titles", &chunk.join("|")),
                ("prop", "imageinfo"),
                ("iiprop", "url|mime|extmetadata"),
                ("iiurlwidth", "1024"),
            ],
        )?)?;
        let Some(pages) = info["query"]["pages"].as_object() else {
            continue;
        };
        for page in pages.values() {
            let Some(ii) = page["imageinfo"].as_array().and_then(|a| a.first()) else {
                continue;
            };
            let mime = ii["mime"].as_str().unwrap_or("");
            if !matches!(mime, "image/jpeg" | "image/png" | "image/webp") {
                continue;
            }
            let meta = &ii["extmetadata"];
            let field = |k: &str| meta[k]["value"].as_str().map(strip_html);
            let Some(url) = ii["thumburl"].as_str().or(ii["url"].as_str()) else {
                continue;
            };
            out.push(Candidate {
                url: url.to_string(),
                page: ii["descriptionurl"].as_str().map(str::to_string),
                provider: "commons",
                title: page["title"].as_str().map(str::to_string),
                licence: field("LicenseShortName"),
                attribution: field("Artist").or_else(|| field("Credit")),
                attribution_required: field("AttributionRequired").is_some_and(|v| v == "true"),
                date: field("DateTimeOriginal")
                    .as_deref()
                    .and_then(text_date)
                    .or_else(|| field("DateTime").as_deref().and_then(text_date)),
            });
        }
    }
    Ok(out)
}

/// Files and sub-categories of a Commons category.
fn members(
    fetch: &Fetcher,
    base: &str,
    category: &str,
) -> Result<(Vec<String>, Vec<String>), CrawlError> {
    let list = fetch.get_json(&api(
        base,
        &[
            ("action", "query"),
            ("list", "categorymembers"),
            ("cmtitle", category),
            ("cmtype", "file|subcat"),
            ("cmlimit", "200"),
        ],
    )?)?;
    let mut files = Vec::new();
    let mut subcats = Vec::new();
    for m in list["query"]["categorymembers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(title) = m["title"].as_str() else {
            continue;
        };
        match m["ns"].as_i64() {
            Some(6) => files.push(title.to_string()),
            Some(14) => subcats.push(title.to_string()),
            _ => {}
        }
    }
    Ok((files, subcats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_free_text() {
        let d = |s: &str| text_date(s).map(|d| d.to_string());
        assert_eq!(d("2009-01-20 12:00:00").as_deref(), Some("2009-01-20"));
        assert_eq!(d("taken 1998").as_deref(), Some("1998-07-01"));
        assert_eq!(d("Barack Obama in 2009").as_deref(), Some("2009-07-01"));
        assert_eq!(d("no date here 12345"), None);
        assert_eq!(d("<span>2004-05</span>").as_deref(), Some("2004-05-15"));
    }

    #[test]
    fn wikidata_times_by_precision() {
        let v = serde_json::json!({"time": "+1961-08-04T00:00:00Z", "precision": 11});
        assert_eq!(wikidata_date(&v).unwrap().to_string(), "1961-08-04");
        let v = serde_json::json!({"time": "+1961-00-00T00:00:00Z", "precision": 9});
        assert_eq!(wikidata_date(&v).unwrap().to_string(), "1961-07-01");
    }
}
