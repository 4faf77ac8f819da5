//! Keyless providers: Wikidata resolves a name to a person (birth date, portrait, Commons
//! category), Wikimedia Commons lists that person's photos with capture dates and licences.

use super::fetch::Fetcher;
use super::{Candidate, CrawlError, Person, PersonSummary};
use chrono::NaiveDate;
use serde_json::Value;

/// Wikidata's item for "human" (P31 instance of Q5).
const HUMAN: &str = "Q5";

/// How many seconds of replication lag the API may have before it asks us to come back later
/// (the `maxlag` value Wikimedia's API etiquette recommends for clients that are not readers).
const MAX_LAG_S: &str = "5";

/// Times a lagged API is asked again before the crawl gives up on that request.
const LAG_RETRIES: u32 = 2;

/// The wait before asking a lagged API again when it names none.
const LAG_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn api(base: &str, params: &[(&str, &str)]) -> Result<String, CrawlError> {
    let mut url = super::endpoint(base, "w/api.php")?;
    url.query_pairs_mut()
        .extend_pairs(params)
        .append_pair("maxlag", MAX_LAG_S)
        .append_pair("format", "json");
    Ok(url.to_string())
}

/// GETs a MediaWiki API answer. MediaWiki reports errors, a rate limit or replication lag
/// among them, as HTTP 200 with an `error` object: those become errors here, never an empty
/// answer (which would read as "nobody of that name"). A lagged server (`maxlag`) is asked
/// again after the wait it names (Retry-After), as the etiquette asks.
fn get_api(fetch: &Fetcher, url: &str) -> Result<Value, CrawlError> {
    let mut lagged = 0;
    loop {
        let fetched = fetch.get(url)?;
        let answer = fetched.json()?;
        match api_error(url, &answer) {
            None => return Ok(answer),
            Some(CrawlError::Api { code, .. }) if code == "maxlag" && lagged < LAG_RETRIES => {
                lagged += 1;
                let wait = fetched.retry_after.unwrap_or(LAG_WAIT).min(LAG_WAIT * 6);
                tracing::info!("{url}: the API is lagged; asking again in {wait:?}");
                std::thread::sleep(wait);
            }
            Some(error) => return Err(error),
        }
    }
}

/// The error a MediaWiki answer carries, if any.
fn api_error(url: &str, answer: &Value) -> Option<CrawlError> {
    let error = answer.get("error")?;
    Some(CrawlError::Api {
        url: url.to_string(),
        code: error["code"].as_str().unwrap_or("unknown").to_string(),
        info: error["info"].as_str().unwrap_or_default().to_string(),
    })
}

/// The value of an item's statement for `property` that Wikidata itself would give: a
/// preferred statement, else a normal one; deprecated statements (known to be wrong, such as a
/// disputed birth date) never.
fn claim<'a>(entity: &'a Value, property: &str) -> Option<&'a Value> {
    let statements = entity["claims"][property].as_array()?;
    let ranked = |rank: &str| {
        statements
            .iter()
            .find(|c| c["rank"].as_str().unwrap_or("normal") == rank)
    };
    ranked("preferred")
        .or_else(|| ranked("normal"))
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

/// The Commons category an item's `commonswiki` sitelink names ("Category:Barack Obama"), for
/// items without a P373 statement.
fn commons_sitelink_category(entity: &Value) -> Option<String> {
    entity["sitelinks"]["commonswiki"]["title"]
        .as_str()?
        .strip_prefix("Category:")
        .map(str::to_string)
}

/// Resolves `name` to the most linked human on Wikidata; other humans found are alternatives.
pub fn resolve(
    fetch: &Fetcher,
    base: &str,
    name: &str,
) -> Result<(Person, Vec<PersonSummary>), CrawlError> {
    let search = get_api(
        fetch,
        &api(
            base,
            &[
                ("action", "wbsearchentities"),
                ("search", name),
                ("language", "en"),
                ("type", "item"),
                ("limit", "10"),
            ],
        )?,
    )?;
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
    let entities = get_api(
        fetch,
        &api(
            base,
            &[
                ("action", "wbgetentities"),
                ("ids", &ids.join("|")),
                ("props", "claims|labels|descriptions|sitelinks"),
                ("languages", "en"),
            ],
        )?,
    )?;
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
                    commons_category: claim(e, "P373")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| commons_sitelink_category(e)),
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

/// A capture date from a Commons `DateTimeOriginal` field (HTML as the file page shows it): the
/// machine-readable `<time datetime="…">` of the date templates first, then the first date in
/// the text.
fn capture_date(html: &str) -> Option<NaiveDate> {
    time_element_date(html).or_else(|| text_date(&strip_html(html)))
}

/// The `datetime` attribute of the first `<time>` element ("2009-01-20", "1985-06", "1985").
fn time_element_date(html: &str) -> Option<NaiveDate> {
    let at = html.find("<time")?;
    let tag = &html[at..at + html[at..].find('>')?];
    let value = tag.split("datetime=").nth(1)?;
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = value[1..].split(quote).next()?;
    text_date(value)
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month (1–12) an English month name or abbreviation of three or more letters names
/// ("May", "Sept.", "jan").
fn month_named(word: &str) -> Option<u32> {
    let word = word.trim_end_matches('.').to_ascii_lowercase();
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&word))
        .map(|i| i as u32 + 1)
}

/// The first date in free text: "2009-01-20 12:00:00", "2009:01:20", "20 January 2009",
/// "January 20, 2009", "May 2009" or "2009". A year alone is the middle of that year, a month
/// the middle of that month, so ages are off by as little as the text allows.
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
            .strip_prefix(['-', ':'])
            .map(|r| r.split(|c: char| !c.is_ascii_digit()).take(2));
        let month = nums.as_mut().and_then(|n| n.next()?.parse::<u32>().ok());
        let day = nums.as_mut().and_then(|n| n.next()?.parse::<u32>().ok());
        let (month, day) = match (month, day) {
            (Some(m), d) => (Some(m), d),
            // "20 January 2009", "January 20, 2009", "May 2009": words before the year.
            (None, _) => named_month_before(&text[..i]),
        };
        return match (month, day) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(year, m, d),
            (Some(m), None) => NaiveDate::from_ymd_opt(year, m, 15),
            _ => NaiveDate::from_ymd_opt(year, 7, 1),
        };
    }
    None
}

/// A month name among the last words before a year, with the day beside it if there is one:
/// "20 January " and "January 20, " give (1, 20); "May " gives (5, none).
fn named_month_before(text: &str) -> (Option<u32>, Option<u32>) {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let last = &words[words.len().saturating_sub(2)..];
    let day_of = |w: &str| {
        w.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=31).contains(d))
    };
    match last {
        [a, b] => match (month_named(a), month_named(b)) {
            (Some(m), _) => (Some(m), day_of(b)),
            (None, Some(m)) => (Some(m), day_of(a)),
            _ => (None, None),
        },
        [a] => (month_named(a), None),
        _ => (None, None),
    }
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
/// files of its dated sub-categories (also those under a "… by year" sub-category), spread over
/// the years. A listing or lookup that fails is logged and passed over; only when nothing could
/// be had is its error returned.
pub fn commons_candidates(
    fetch: &Fetcher,
    base: &str,
    person: &Person,
    max: usize,
) -> Result<Vec<Candidate>, CrawlError> {
    let mut failures = Vec::new();
    let mut passed_over = |result: Result<Vec<String>, CrawlError>| match result {
        Ok(titles) => titles,
        Err(e) => {
            tracing::warn!(error = %e, "a Commons request failed; going on without it");
            failures.push(e);
            Vec::new()
        }
    };
    let mut files: Vec<String> = person.image.iter().map(|f| format!("File:{f}")).collect();
    if let Some(category) = &person.commons_category {
        let category = format!("Category:{category}");
        files.extend(passed_over(members(fetch, base, &category, Member::File)));
        let mut subcats = passed_over(members(fetch, base, &category, Member::Subcat));
        // "X by year" holds the dated categories one level down.
        let by_year: Vec<String> = subcats
            .iter()
            .filter(|c| c.to_ascii_lowercase().ends_with(" by year"))
            .cloned()
            .collect();
        for c in by_year {
            subcats.extend(passed_over(members(fetch, base, &c, Member::Subcat)));
        }
        let mut dated: Vec<(i32, String)> = subcats
            .into_iter()
            .filter_map(|c| Some((category_year(&c)?, c)))
            .collect();
        dated.sort();
        dated.dedup();
        for (_, sub) in spread(&dated, max) {
            let in_sub = passed_over(members(fetch, base, sub, Member::File));
            files.extend(in_sub.into_iter().take(3));
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    let mut out = Vec::new();
    // At most 50 titles a query, MediaWiki's limit for clients without bot rights.
    for chunk in files.chunks(50) {
        let info = get_api(
            fetch,
            &api(
                base,
                &[
                    ("action", "query"),
                    ("titles", &chunk.join("|")),
                    ("prop", "imageinfo"),
                    ("iiprop", "url|mime|extmetadata"),
                    // One of the widths Commons keeps thumbnails at, so none is made for us.
                    ("iiurlwidth", "1280"),
                ],
            )?,
        );
        let info = match info {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "a Commons lookup failed; going on without it");
                failures.push(e);
                continue;
            }
        };
        let Some(pages) = info["query"]["pages"].as_object() else {
            continue;
        };
        out.extend(pages.values().filter_map(candidate_of));
    }
    match failures.into_iter().next() {
        Some(first) if out.is_empty() => Err(first),
        _ => Ok(out),
    }
}

/// A photo from one page of an `imageinfo` answer, if it is one lifelapse can read.
fn candidate_of(page: &Value) -> Option<Candidate> {
    let ii = page["imageinfo"].as_array()?.first()?;
    // Scans are often TIFF; Commons serves their thumbnails as JPEG.
    let mime = ii["mime"].as_str().unwrap_or("");
    let thumb = ii["thumburl"].as_str();
    let readable = matches!(mime, "image/jpeg" | "image/png" | "image/webp")
        || (mime == "image/tiff" && thumb.is_some());
    if !readable {
        return None;
    }
    let meta = &ii["extmetadata"];
    let field = |k: &str| meta[k]["value"].as_str().map(strip_html);
    let url = thumb.or(ii["url"].as_str())?;
    Some(Candidate {
        url: url.to_string(),
        page: ii["descriptionurl"].as_str().map(str::to_string),
        provider: "commons",
        title: page["title"].as_str().map(str::to_string),
        licence: field("LicenseShortName"),
        attribution: field("Artist").or_else(|| field("Credit")),
        attribution_required: field("AttributionRequired").is_some_and(|v| v == "true"),
        // The capture date only: extmetadata's `DateTime` is when the file was uploaded or
        // changed, years after an old photo was taken.
        date: meta["DateTimeOriginal"]["value"]
            .as_str()
            .and_then(capture_date),
    })
}

/// Up to `k` of `items`, spread evenly from the first to the last (all when there are no more),
/// so a person's dated categories cover the whole life rather than its first years.
fn spread<T>(items: &[T], k: usize) -> impl Iterator<Item = &T> {
    let n = items.len();
    let picks: Vec<usize> = match k {
        _ if n <= k => (0..n).collect(),
        0 => Vec::new(),
        1 => vec![n / 2],
        k => (0..k)
            .map(|i| (i * (n - 1) + (k - 1) / 2) / (k - 1))
            .collect(),
    };
    picks.into_iter().map(move |i| &items[i])
}

/// What to list of a category.
#[derive(Debug, Clone, Copy)]
enum Member {
    File,
    Subcat,
}

/// The titles of a Commons category's files or sub-categories, listed apart so that many files
/// cannot crowd the dated sub-categories out, and followed through `cmcontinue` up to
/// [`MAX_LISTING_PAGES`] pages.
fn members(
    fetch: &Fetcher,
    base: &str,
    category: &str,
    kind: Member,
) -> Result<Vec<String>, CrawlError> {
    let (cmtype, namespace) = match kind {
        Member::File => ("file", 6),
        Member::Subcat => ("subcat", 14),
    };
    let mut titles = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_LISTING_PAGES {
        let mut params = vec![
            ("action", "query"),
            ("list", "categorymembers"),
            ("cmtitle", category),
            ("cmtype", cmtype),
            ("cmlimit", "500"),
        ];
        if let Some(from) = &next {
            params.push(("cmcontinue", from));
        }
        let list = get_api(fetch, &api(base, &params)?)?;
        titles.extend(
            list["query"]["categorymembers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|m| m["ns"].as_i64() == Some(namespace))
                .filter_map(|m| m["title"].as_str().map(str::to_string)),
        );
        next = list["continue"]["cmcontinue"].as_str().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    Ok(titles)
}

/// Pages of a category listing followed at most (500 titles each).
const MAX_LISTING_PAGES: usize = 10;

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
    fn capture_dates_as_commons_pages_give_them() {
        let d = |s: &str| capture_date(s).map(|d| d.to_string());
        // The date templates' machine-readable value wins over the words.
        let taken = r#"<time class="dtstart" datetime="2010-10-10">10 October 2010</time>"#;
        assert_eq!(d(taken).as_deref(), Some("2010-10-10"));
        assert_eq!(
            d("<time datetime='1985-06'>June 1985</time>, scanned 2011").as_deref(),
            Some("1985-06-15")
        );
        assert_eq!(d("20 January 2009").as_deref(), Some("2009-01-20"));
        assert_eq!(d("January 20, 2009").as_deref(), Some("2009-01-20"));
        assert_eq!(d("1 May 2009").as_deref(), Some("2009-05-01"));
        assert_eq!(d("Sept. 1985").as_deref(), Some("1985-09-15"));
        assert_eq!(d("2009:01:20 12:00:00").as_deref(), Some("2009-01-20"));
        assert_eq!(d("Marcus in 1990").as_deref(), Some("1990-07-01"));
        assert_eq!(d("unknown date"), None);
    }

    /// The shape of an `imageinfo` page as Commons answers it, the `DateTime` field from the
    /// file's upload (`"source": "mediawiki-metadata"`), as in the public fixture
    /// services/__fixtures__/imageInfoWithoutNormalization.js of wmde/attribution-generator-api.
    fn image_page(mime: &str, original: Option<&str>) -> Value {
        let mut meta = serde_json::json!({
            "DateTime": {"value": "2011-12-01 14:17:15", "source": "mediawiki-metadata", "hidden": ""},
            "LicenseShortName": {"value": "CC BY-SA 3.0", "source": "commons-desc-page"},
            "Artist": {"value": "<a href=\"//commons.wikimedia.org/wiki/User:X\">X</a>", "source": "commons-desc-page"},
        });
        if let Some(date) = original {
            meta["DateTimeOriginal"] =
                serde_json::json!({"value": date, "source": "commons-desc-page"});
        }
        serde_json::json!({
            "ns": 6,
            "title": "File:Scan 1978.tif",
            "imageinfo": [{
                "thumburl": "https://upload.example/thumb/1280px-Scan_1978.tif.jpg",
                "url": "https://upload.example/Scan_1978.tif",
                "descriptionurl": "https://commons.example/wiki/File:Scan_1978.tif",
                "mime": mime,
                "extmetadata": meta,
            }],
        })
    }

    #[test]
    fn a_photo_is_dated_by_its_capture_never_its_upload() {
        let undated = candidate_of(&image_page("image/jpeg", None)).expect("a photo");
        assert_eq!(undated.date, None);
        assert_eq!(undated.attribution.as_deref(), Some("X"));
        let empty = candidate_of(&image_page("image/jpeg", Some(""))).expect("a photo");
        assert_eq!(empty.date, None);
        let dated = candidate_of(&image_page("image/jpeg", Some("1978"))).expect("a photo");
        assert_eq!(
            dated.date.map(|d| d.to_string()).as_deref(),
            Some("1978-07-01")
        );
    }

    #[test]
    fn a_tiff_scan_is_taken_through_its_jpeg_thumbnail() {
        let scan = candidate_of(&image_page("image/tiff", Some("1978"))).expect("the scan");
        assert!(scan.url.ends_with(".jpg"), "{}", scan.url);
        let mut no_thumb = image_page("image/tiff", Some("1978"));
        no_thumb["imageinfo"][0]
            .as_object_mut()
            .expect("imageinfo")
            .remove("thumburl");
        assert!(candidate_of(&no_thumb).is_none());
        assert!(candidate_of(&image_page("image/svg+xml", None)).is_none());
    }

    #[test]
    fn statements_are_read_by_rank_and_the_sitelink_names_the_category() {
        let date = |time: &str, rank: &str| serde_json::json!({"rank": rank, "mainsnak": {"datavalue": {"value": {"time": time, "precision": 11}}}});
        let item = serde_json::json!({"claims": {"P569": [
            date("+1950-01-01T00:00:00Z", "deprecated"),
            date("+1961-08-04T00:00:00Z", "normal"),
        ]}});
        let born = claim(&item, "P569").and_then(wikidata_date);
        assert_eq!(born.map(|d| d.to_string()).as_deref(), Some("1961-08-04"));
        let item = serde_json::json!({"claims": {"P569": [
            date("+1961-08-04T00:00:00Z", "normal"),
            date("+1962-03-01T00:00:00Z", "preferred"),
        ]}});
        let born = claim(&item, "P569").and_then(wikidata_date);
        assert_eq!(born.map(|d| d.to_string()).as_deref(), Some("1962-03-01"));
        let only_deprecated =
            serde_json::json!({"claims": {"P569": [date("+1950-01-01T00:00:00Z", "deprecated")]}});
        assert!(claim(&only_deprecated, "P569").is_none());

        let item = serde_json::json!({"sitelinks": {"commonswiki": {"site": "commonswiki", "title": "Category:Steve Carell"}}});
        assert_eq!(
            commons_sitelink_category(&item).as_deref(),
            Some("Steve Carell")
        );
    }

    #[test]
    fn an_error_in_a_200_answer_is_an_error() {
        let limited = serde_json::json!({"error": {"code": "ratelimited", "info": "You've exceeded your rate limit."}});
        match api_error("https://commons.example/w/api.php", &limited) {
            Some(CrawlError::Api { code, .. }) => assert_eq!(code, "ratelimited"),
            other => panic!("{other:?}"),
        }
        let empty_search =
            serde_json::json!({"searchinfo": {"search": "x"}, "search": [], "success": 1});
        assert!(api_error("https://www.wikidata.example/w/api.php", &empty_search).is_none());
    }

    #[test]
    fn picks_spread_over_the_whole_list() {
        let years: Vec<i32> = (1970..2020).collect();
        let picked: Vec<i32> = spread(&years, 5).copied().collect();
        assert_eq!(picked.first(), Some(&1970));
        assert_eq!(picked.last(), Some(&2019));
        assert_eq!(picked.len(), 5);
        assert_eq!(spread(&years[..3], 5).count(), 3);
    }

    #[test]
    fn wikidata_times_by_precision() {
        let v = serde_json::json!({"time": "+1961-08-04T00:00:00Z", "precision": 11});
        assert_eq!(wikidata_date(&v).unwrap().to_string(), "1961-08-04");
        let v = serde_json::json!({"time": "+1961-00-00T00:00:00Z", "precision": 9});
        assert_eq!(wikidata_date(&v).unwrap().to_string(), "1961-07-01");
    }
}
