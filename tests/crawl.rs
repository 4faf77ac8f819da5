//! `lifelapse crawl` against fake Wikidata, Commons, image-search and photo servers on
//! 127.0.0.1, through the real binary.

mod common;

use common::fake_http::{FakeServer, Reply, Request};
use common::{lifelapse, photo, run, stderr};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(handler).expect("fake server")
}

fn jpeg(rel: &str) -> Vec<u8> {
    std::fs::read(photo(rel)).expect("test photo")
}

/// A Wikidata time statement in the shape wbgetentities answers with (the Wikibase JSON
/// format, as in the published example answers of https://www.wikidata.org/wiki/Special:ApiSandbox
/// and https://doc.wikimedia.org/Wikibase/master/php/docs_topics_json.html).
fn time_statement(id: &str, time: &str, rank: &str) -> serde_json::Value {
    json!({
        "mainsnak": {"snaktype": "value", "property": "P569", "datatype": "time",
            "datavalue": {"type": "time", "value": {"time": time, "timezone": 0, "before": 0,
                "after": 0, "precision": 11, "calendarmodel": "http://www.wikidata.org/entity/Q1985727"}}},
        "type": "statement", "id": id, "rank": rank
    })
}

/// Wikidata knowing two humans called Barack Obama (the famous one has more site links) and a
/// ship; `slow` delays every answer. The famous one's first birth date is a deprecated (wrong)
/// statement, as Wikidata keeps disputed values.
fn wikidata(slow: Duration) -> FakeServer {
    serve(move |r: &Request| {
        // Wikimedia's policy: the client, its version and a contact.
        let agent = r.header("user-agent").unwrap_or_default();
        if !(agent.starts_with("lifelapse/") && agent.contains(&format!("({CONTACT})"))) {
            return Reply::status(403);
        }
        // The API etiquette: JSON, and a maxlag for a client that is not a reader.
        if r.param("format") != Some("json") || r.param("maxlag") != Some("5") {
            return Reply::status(400);
        }
        let reply = match r.param("action") {
            Some("wbsearchentities") if r.param("search") == Some("Barack Obama") => {
                Reply::json(json!({"search": [
                    {"id": "Q900", "label": "Barack Obama"},
                    {"id": "Q76", "label": "Barack Obama"},
                    {"id": "Q901", "label": "Barack Obama"}
                ]}))
            }
            Some("wbsearchentities") if r.param("search") == Some("Nobody Photographed") => {
                Reply::json(json!({"search": [{"id": "Q5000"}]}))
            }
            Some("wbsearchentities") => Reply::json(json!({"search": []})),
            Some("wbgetentities") => Reply::json(json!({"entities": {
                "Q76": {
                    "labels": {"en": {"value": "Barack Obama"}},
                    "descriptions": {"en": {"value": "44th president of the United States"}},
                    "sitelinks": {"enwiki": {}, "dewiki": {}, "frwiki": {}},
                    "claims": {
                        "P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}],
                        "P569": [
                            time_statement("Q76$0", "+1960-08-04T00:00:00Z", "deprecated"),
                            time_statement("Q76$1", "+1961-08-04T00:00:00Z", "normal")
                        ],
                        "P18": [{"mainsnak": {"datavalue": {"value": "Obama portrait.jpg"}}}],
                        "P373": [{"mainsnak": {"datavalue": {"value": "Barack Obama"}}}]
                    }
                },
                "Q900": {
                    "labels": {"en": {"value": "Barack Obama"}},
                    "descriptions": {"en": {"value": "namesake, amateur footballer"}},
                    "sitelinks": {"enwiki": {}},
                    "claims": {"P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}]}
                },
                "Q901": {
                    "labels": {"en": {"value": "Barack Obama (ship)"}},
                    "sitelinks": {"a": {}, "b": {}, "c": {}, "d": {}},
                    "claims": {"P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q11446"}}}}]}
                },
                "Q5000": {
                    "labels": {"en": {"value": "Nobody Photographed"}},
                    "sitelinks": {},
                    "claims": {"P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}]}
                }
            }})),
            _ => Reply::status(400),
        };
        reply.after(slow)
    })
}

/// Commons with a category, a dated sub-category, and files served by `photos`.
fn commons(photos: &str) -> FakeServer {
    let photos = photos.to_string();
    serve(
        move |r: &Request| match (r.param("list"), r.param("prop")) {
            (Some("categorymembers"), _) => match r.param("cmtitle") {
                Some("Category:Barack Obama") => Reply::json(json!({"query": {"categorymembers": [
                    {"ns": 6, "title": "File:Obama 2004.jpg"},
                    {"ns": 6, "title": "File:Obama redirect.jpg"},
                    {"ns": 6, "title": "File:Obama text.jpg"},
                    {"ns": 6, "title": "File:Obama huge.jpg"},
                    {"ns": 14, "title": "Category:Barack Obama in 2012"},
                    {"ns": 14, "title": "Category:Things named after Barack Obama"}
                ]}})),
                Some("Category:Barack Obama in 2012") => {
                    Reply::json(json!({"query": {"categorymembers": [
                        {"ns": 6, "title": "File:Obama 2012.jpg"}
                    ]}}))
                }
                _ => Reply::json(json!({"query": {"categorymembers": []}})),
            },
            (_, Some("imageinfo")) => {
                let titles = r.param("titles").unwrap_or("").to_string();
                let info = |title: &str, file: &str, date: &str| {
                    json!({
                        "title": title,
                        "imageinfo": [{
                            "url": format!("{photos}/{file}"),
                            "thumburl": format!("{photos}/{file}"),
                            "descriptionurl": format!("https://commons.example/{title}"),
                            "mime": "image/jpeg",
                            "extmetadata": {
                                "DateTimeOriginal": {"value": date},
                                "LicenseShortName": {"value": "Public domain"},
                                "Artist": {"value": "<a href='x'>Official photographer</a>"},
                                "AttributionRequired": {"value": "false"}
                            }
                        }]
                    })
                };
                let mut pages = serde_json::Map::new();
                for (i, title) in titles.split('|').enumerate() {
                    let page = match title {
                        "File:Obama portrait.jpg" => info(title, "portrait.jpg", "2009-01-13"),
                        "File:Obama 2004.jpg" => info(title, "2004.jpg", "2004-07-27 10:00:00"),
                        "File:Obama 2012.jpg" => info(title, "2012.jpg", "2012"),
                        "File:Obama redirect.jpg" => info(title, "redirect.jpg", "2008"),
                        "File:Obama text.jpg" => info(title, "text.jpg", "2010"),
                        "File:Obama huge.jpg" => info(title, "huge.jpg", "2011"),
                        _ => continue,
                    };
                    pages.insert(format!("{}", 100 + i), page);
                }
                Reply::json(json!({"query": {"pages": pages}}))
            }
            _ => Reply::status(400),
        },
    )
}

fn photo_host() -> FakeServer {
    serve(|r: &Request| match r.path.as_str() {
        "/portrait.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/01.jpg")),
        "/2004.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/02.jpg")),
        "/2012.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/03.jpg")),
        // The same bytes as the portrait, under another name (the search finds it too).
        "/copy-of-portrait.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/01.jpg")),
        // A redirect into the private network.
        "/redirect.jpg" => Reply::redirect("http://10.0.0.7/internal.jpg"),
        "/text.jpg" => Reply::bytes("image/jpeg", b"<html>not an image</html>".to_vec()),
        "/huge.jpg" => Reply::bytes("image/jpeg", vec![0xff; 3 << 20]),
        _ => Reply::status(404),
    })
}

fn search(photos: &str) -> FakeServer {
    let photos = photos.to_string();
    serve(move |r: &Request| {
        assert_eq!(r.param("key"), Some("test-key"));
        Reply::json(json!({"items": [
            {"link": format!("{photos}/copy-of-portrait.jpg"), "title": "Obama", "displayLink": "news.example",
             "image": {"contextLink": "https://news.example/obama"}},
            {"link": format!("{photos}/2004.jpg"), "title": "Obama 2004"}
        ]}))
    })
}

/// How the tests' crawls say they can be reached; the fake Wikidata checks the User-Agent.
const CONTACT: &str = "tests@lifelapse.invalid";

fn crawl_cmd(dir: &std::path::Path, servers: &[&FakeServer]) -> Command {
    let mut cmd = lifelapse(dir);
    let hosts: Vec<String> = servers.iter().map(|s| s.host()).collect();
    cmd.env("LIFELAPSE_CRAWL_ALLOW_HOSTS", hosts.join(","))
        .env("LIFELAPSE_CRAWL_CONTACT", CONTACT)
        // Openverse only where a test serves it.
        .env("LIFELAPSE_CRAWL_OPENVERSE_URL", "")
        .env("LIFELAPSE_CRAWL_MAX_MB", "1")
        .env("LIFELAPSE_DATA_DIR", dir.join("data"));
    cmd
}

#[test]
fn a_name_becomes_dated_photos_with_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let host = photo_host();
    let (wd, cm, se) = (
        wikidata(Duration::ZERO),
        commons(&host.url()),
        search(&host.url()),
    );
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm, &se])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .env(
            "LIFELAPSE_CRAWL_SEARCH_URL",
            format!("{}/customsearch/v1", se.url()),
        )
        .env("LIFELAPSE_CRAWL_SEARCH_API_KEY", "test-key")
        .env("LIFELAPSE_CRAWL_SEARCH_ENGINE_ID", "test-cx")
        .args(["crawl", "Barack Obama", "-o", "obama", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // The most linked human, with the namesake as an alternative and the ship left out.
    assert_eq!(m["person"]["id"], "Q76");
    assert_eq!(m["person"]["born"], "1961-08-04");
    let alternatives = m["alternatives"].as_array().unwrap();
    assert_eq!(alternatives.len(), 1);
    assert_eq!(alternatives[0]["id"], "Q900");

    let photos = m["photos"].as_array().unwrap();
    let urls: Vec<&str> = photos.iter().map(|p| p["url"].as_str().unwrap()).collect();
    assert_eq!(photos.len(), 3, "{urls:?}");
    for p in photos {
        let file = dir.path().join("obama").join(p["file"].as_str().unwrap());
        assert!(image::open(&file).is_ok(), "{}", file.display());
        assert_eq!(p["licence"], "Public domain");
        assert_eq!(p["attribution"], "Official photographer");
    }
    let dated: Vec<(&str, f64)> = photos
        .iter()
        .map(|p| (p["date"].as_str().unwrap(), p["age"].as_f64().unwrap()))
        .collect();
    // Age = date − birth date.
    assert!(
        dated
            .iter()
            .any(|(d, a)| *d == "2004-07-27" && (a - 42.98).abs() < 0.01),
        "{dated:?}"
    );
    assert!(
        dated.iter().any(|(d, _)| *d == "2012-07-01"),
        "year-only dates sit mid-year"
    );

    // Every refusal is reported with its reason.
    let skipped = m["skipped"].as_array().unwrap();
    let reason = |url_part: &str| {
        skipped
            .iter()
            .find(|s| s["url"].as_str().unwrap().contains(url_part))
            .map(|s| s["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{url_part} not skipped: {skipped:?}"))
    };
    assert!(reason("redirect.jpg").contains("not a public address"));
    assert!(reason("text.jpg").contains("not an image"));
    assert!(reason("huge.jpg").contains("larger than"));
    assert!(reason("copy-of-portrait.jpg").contains("same image"));
    assert!(dir.path().join("obama/manifest.json").is_file());
}

#[test]
fn unknown_names_and_people_without_photos_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let host = photo_host();
    let (wd, cm) = (wikidata(Duration::ZERO), commons(&host.url()));
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .args(["crawl", "Zzyzx Qwerty", "-o", "x"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nobody called \"Zzyzx Qwerty\""),
        "{}",
        stderr(&out)
    );

    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .args(["crawl", "Nobody Photographed", "-o", "x"]));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no photos of Nobody Photographed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_slow_server_times_out_and_private_endpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wd = wikidata(Duration::from_secs(5));
    let out = run(crawl_cmd(dir.path(), &[&wd])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_TIMEOUT_S", "1")
        .args(["crawl", "Barack Obama", "-o", "x"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));

    // Without the allow-list a fake on loopback is never contacted.
    let wd = wikidata(Duration::ZERO);
    let out = run(lifelapse(dir.path())
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_CONTACT", CONTACT)
        .args(["crawl", "Barack Obama", "-o", "x"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a public address"),
        "{}",
        stderr(&out)
    );
    assert_eq!(wd.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn render_by_name_crawls_then_renders_with_the_sources_ages() {
    let dir = tempfile::tempdir().unwrap();
    let host = photo_host();
    let (wd, cm) = (wikidata(Duration::ZERO), commons(&host.url()));
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .args([
            "render",
            "--name",
            "Barack Obama",
            "--size",
            "256",
            "--frames-between",
            "4",
        ])
        .args(["-o", "obama.gif"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("photo: ") && err.contains("Public domain"),
        "{err}"
    );
    let gif = common::decode_gif(&dir.path().join("obama.gif"));
    assert!(gif.frames.len() > 8);
    // The crawl is kept in the data dir with its manifest.
    assert!(dir
        .path()
        .join("data/crawl/barack-obama/manifest.json")
        .is_file());
}

#[test]
fn the_fetcher_retries_busy_servers_and_stops_redirect_loops() {
    use lifelapse::crawl::fetch::{FetchError, FetchOptions, Fetcher};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = serve(move |r: &Request| match r.path.as_str() {
        // Busy twice, then the photo.
        "/busy.jpg" => match seen.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::status(503),
            1 => Reply::status(429),
            _ => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/01.jpg")),
        },
        p => {
            let n: u32 = p.trim_start_matches("/loop").parse().unwrap_or(0);
            Reply::redirect(&format!("/loop{}", n + 1))
        }
    });
    let fetcher = Fetcher::new(FetchOptions {
        allow_hosts: vec![server.host()],
        ..FetchOptions::default()
    });
    let got = fetcher
        .get_image(&format!("{}/busy.jpg", server.url()))
        .expect("retried");
    assert_eq!(got.bytes, jpeg("faces/barack_obama/01.jpg"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(matches!(
        fetcher.get(&format!("{}/loop0", server.url())),
        Err(FetchError::TooManyRedirects(_))
    ));
}

/// `reply`'s body gzip-compressed, as Wikimedia answers clients that accept it.
fn gzipped(mut reply: Reply) -> Reply {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&reply.body).expect("gzip");
    reply.body = gz.finish().expect("gzip");
    reply
        .headers
        .push(("Content-Encoding".into(), "gzip".into()));
    reply
}

/// Commons as it answers big categories, in the shapes of the example answers published with
/// the API's documentation (https://www.mediawiki.org/wiki/API:Categorymembers,
/// https://www.mediawiki.org/wiki/API:Imageinfo, https://www.mediawiki.org/wiki/Manual:Maxlag_parameter,
/// https://www.mediawiki.org/wiki/API:Errors_and_warnings): listings in pages (`cmcontinue`), a "… by year"
/// category between the person's and the dated ones, and a rate-limit error inside an HTTP 200
/// answer (MediaWiki's way) for one of the dated categories. Every answer is gzip-compressed,
/// and a client that does not accept gzip is refused. Every request must carry `maxlag`; the
/// first file query is answered as a lagged server answers (a `maxlag` error with Retry-After).
fn paged_commons(photos: &str) -> FakeServer {
    let photos = photos.to_string();
    let lagged = std::sync::atomic::AtomicBool::new(false);
    serve(move |r: &Request| {
        if !r
            .header("accept-encoding")
            .is_some_and(|a| a.contains("gzip"))
        {
            return Reply::status(406);
        }
        if r.param("maxlag") != Some("5") {
            return Reply::status(400);
        }
        if r.param("prop") == Some("imageinfo")
            && !lagged.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            // The shape MediaWiki's maxlag manual documents.
            let mut reply = Reply::json(json!({"error": {
                "code": "maxlag",
                "info": "Waiting for 10.64.48.35: 1.2 seconds lagged.",
                "host": "10.64.48.35",
                "lag": 1.2,
                "type": "db",
                "*": "See https://commons.wikimedia.org/w/api.php for API usage."
            }, "servedby": "mw1234"}));
            reply.headers.push(("Retry-After".into(), "1".into()));
            reply.headers.push(("X-Database-Lag".into(), "1".into()));
            return gzipped(reply);
        }
        gzipped(paged_commons_answer(&photos, r))
    })
}

fn paged_commons_answer(photos: &str, r: &Request) -> Reply {
    {
        let members = |titles: &[(i64, &str)]| {
            let list: Vec<_> = titles
                .iter()
                .map(|(ns, t)| json!({"ns": ns, "title": t}))
                .collect();
            json!({"batchcomplete": "", "query": {"categorymembers": list}})
        };
        match (r.param("list"), r.param("prop")) {
            (Some("categorymembers"), _) => {
                // The fake checks what a polite client sends.
                assert_eq!(r.param("format"), Some("json"));
                let reply = match (r.param("cmtitle"), r.param("cmtype"), r.param("cmcontinue")) {
                    (Some("Category:Barack Obama"), Some("file"), None) => {
                        let mut page = members(&[(6, "File:Obama 2004.jpg")]);
                        page["continue"] =
                            json!({"cmcontinue": "file|4f42414d41|1234", "continue": "-||"});
                        page
                    }
                    (Some("Category:Barack Obama"), Some("file"), Some("file|4f42414d41|1234")) => {
                        members(&[(6, "File:Obama paged.jpg")])
                    }
                    (Some("Category:Barack Obama"), Some("subcat"), None) => members(&[
                        (14, "Category:Barack Obama by year"),
                        (14, "Category:Barack Obama in 2010"),
                    ]),
                    (Some("Category:Barack Obama by year"), Some("subcat"), None) => {
                        members(&[(14, "Category:Barack Obama in 2012")])
                    }
                    (Some("Category:Barack Obama in 2012"), Some("file"), None) => {
                        members(&[(6, "File:Obama 2012.jpg")])
                    }
                    (Some("Category:Barack Obama in 2010"), _, _) => json!({"error": {
                        "code": "ratelimited",
                        "info": "As an anti-abuse measure, you are limited from performing this action too many times in a short space of time, and you have exceeded this limit. Please try again in a few minutes.",
                        "*": "See https://commons.wikimedia.org/w/api.php for API usage."
                    }, "servedby": "mw1234"}),
                    _ => members(&[]),
                };
                Reply::json(reply)
            }
            (_, Some("imageinfo")) => {
                let titles: Vec<&str> = r.param("titles").unwrap_or("").split('|').collect();
                assert!(titles.len() <= 50, "{} titles in one query", titles.len());
                assert_eq!(r.param("iiurlwidth"), Some("1280"));
                let info = |title: &str, file: &str, meta: serde_json::Value| {
                    json!({"title": title, "imageinfo": [{
                        "url": format!("{photos}/{file}"),
                        "thumburl": format!("{photos}/{file}"),
                        "descriptionurl": format!("https://commons.example/{title}"),
                        "mime": "image/jpeg",
                        "extmetadata": meta
                    }]})
                };
                let licence = |date: serde_json::Value| {
                    let mut meta = json!({
                        "LicenseShortName": {"value": "Public domain"},
                        "Artist": {"value": "Official photographer"},
                        "DateTime": {"value": "2019-05-01 10:00:00", "source": "mediawiki-metadata"}
                    });
                    if !date.is_null() {
                        meta["DateTimeOriginal"] = date;
                    }
                    meta
                };
                let mut pages = serde_json::Map::new();
                for (i, title) in titles.iter().enumerate() {
                    let page = match *title {
                        "File:Obama portrait.jpg" => info(
                            title,
                            "portrait.jpg",
                            licence(json!({
                                "value": "<time class=\"dtstart\" datetime=\"2009-01-13\">13 January 2009</time>"
                            })),
                        ),
                        "File:Obama 2004.jpg" => {
                            info(title, "2004.jpg", licence(json!({"value": "27 July 2004"})))
                        }
                        "File:Obama paged.jpg" => {
                            info(title, "paged.jpg", licence(json!({"value": "May 2006"})))
                        }
                        // No capture date: the upload's DateTime must not stand in for it.
                        "File:Obama 2012.jpg" => info(title, "2012.jpg", licence(json!(null))),
                        _ => continue,
                    };
                    pages.insert(format!("{}", 100 + i), page);
                }
                Reply::json(json!({"batchcomplete": "", "query": {"pages": pages}}))
            }
            _ => Reply::status(400),
        }
    }
}

#[test]
fn commons_listings_are_followed_through_pages_and_one_failed_request_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let host = serve(|r: &Request| match r.path.as_str() {
        "/portrait.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/01.jpg")),
        "/2004.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/02.jpg")),
        "/2012.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/03.jpg")),
        "/paged.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/04.jpg")),
        _ => Reply::status(404),
    });
    let (wd, cm) = (wikidata(Duration::ZERO), paged_commons(&host.url()));
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .args(["crawl", "Barack Obama", "-o", "obama", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let photos = m["photos"].as_array().unwrap();
    let date_of = |file: &str| {
        photos
            .iter()
            .find(|p| p["url"].as_str().unwrap().ends_with(file))
            .map(|p| p["date"].clone())
            .unwrap_or_else(|| panic!("{file} missing: {photos:?}"))
    };
    assert_eq!(date_of("portrait.jpg"), "2009-01-13");
    assert_eq!(date_of("2004.jpg"), "2004-07-27");
    // The second page of the listing, and the category under "by year".
    assert_eq!(date_of("paged.jpg"), "2006-05-15");
    assert_eq!(date_of("2012.jpg"), serde_json::Value::Null);
    assert!(
        stderr(&out).contains("ratelimited"),
        "the failed request is logged: {}",
        stderr(&out)
    );
}

#[test]
fn no_name_is_searched_without_a_contact_for_wikimedia() {
    let dir = tempfile::tempdir().unwrap();
    let wd = wikidata(Duration::ZERO);
    let out = run(crawl_cmd(dir.path(), &[&wd])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_CONTACT", "")
        .args(["crawl", "Barack Obama", "-o", "obama"]));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("[crawl] contact"), "{}", stderr(&out));
    // The process has ended: nothing more can reach the fake.
    assert_eq!(wd.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// Openverse answering every query with the same two openly licensed photos, in the shape of
/// its API's published Image schema (https://api.openverse.org/v1/schema/Image).
fn openverse(photos: &str) -> FakeServer {
    let photos = photos.to_string();
    serve(move |r: &Request| {
        let agent = r.header("user-agent").unwrap_or_default();
        if r.path != "/v1/images/" || !agent.contains(CONTACT) {
            return Reply::status(403);
        }
        assert!(r.param("q").is_some_and(|q| q.contains("Barack Obama")));
        let size: usize = r
            .param("page_size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!((1..=20).contains(&size), "page_size {size}");
        Reply::json(json!({
            "result_count": 2, "page_count": 1, "page_size": size, "page": 1,
            "results": [
                {"id": "7c1a", "title": "Young Barack Obama", "foreign_landing_url": "https://www.flickr.com/photos/example/1",
                 "url": format!("{photos}/young.jpg"), "creator": "A. Photographer", "license": "by", "license_version": "2.0",
                 "license_url": "https://creativecommons.org/licenses/by/2.0/", "provider": "flickr", "source": "flickr",
                 "filetype": "jpg", "mature": false, "width": 640, "height": 480},
                {"id": "7c1b", "title": "Obama", "foreign_landing_url": "https://www.flickr.com/photos/example/2",
                 "url": null, "creator": "Nobody", "license": "by", "license_version": "2.0"}
            ]
        }))
    })
}

#[test]
fn openverse_adds_openly_licensed_photos_with_their_credits() {
    let dir = tempfile::tempdir().unwrap();
    let host = serve(|r: &Request| match r.path.as_str() {
        "/portrait.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/01.jpg")),
        "/2004.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/02.jpg")),
        "/2012.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/03.jpg")),
        "/young.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/04.jpg")),
        _ => Reply::status(404),
    });
    let (wd, cm, ov) = (
        wikidata(Duration::ZERO),
        commons(&host.url()),
        openverse(&host.url()),
    );
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &cm, &ov])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", cm.url())
        .env("LIFELAPSE_CRAWL_OPENVERSE_URL", ov.url())
        .args(["crawl", "Barack Obama", "-o", "obama", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let photos = m["photos"].as_array().unwrap();
    let young = photos
        .iter()
        .find(|p| p["provider"] == "openverse")
        .unwrap_or_else(|| panic!("no Openverse photo: {photos:?}"));
    assert!(young["url"].as_str().unwrap().ends_with("/young.jpg"));
    assert_eq!(young["licence"], "CC BY 2.0");
    assert_eq!(young["attribution"], "A. Photographer");
    assert_eq!(young["attribution_required"], true);
    assert_eq!(young["page"], "https://www.flickr.com/photos/example/1");
    assert!(young["date"].is_null());
    // The four queries were asked; the same photo found by each is kept once.
    assert_eq!(ov.requests.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(
        photos
            .iter()
            .filter(|p| p["provider"] == "openverse")
            .count(),
        1
    );
    // Commons' dated photos are still there.
    assert!(photos.iter().any(|p| p["provider"] == "commons"));
}

const BRAVE_KEY: &str = "brave-test-key";

/// The Brave Search API's image search, answering in the shape of its published ImageResult;
/// the query for "young …" is redirected to `moved` (another host).
fn brave(photos: &str, moved: &str) -> FakeServer {
    let (photos, moved) = (photos.to_string(), moved.to_string());
    serve(move |r: &Request| {
        if r.path != "/res/v1/images/search" || r.header("x-subscription-token") != Some(BRAVE_KEY)
        {
            return Reply::status(401);
        }
        let q = r.param("q").unwrap_or_default();
        if q.starts_with("young ") {
            return Reply::redirect(&format!("{moved}/elsewhere"));
        }
        Reply::json(
            json!({"type": "images", "query": {"original": q}, "results": [{
                "type": "image_result", "title": "Barack Obama in school", "url": "https://news.example/obama-school",
                "source": "news.example", "thumbnail": {"src": "https://imgs.example/t"},
                "properties": {"url": format!("{photos}/school.jpg"), "placeholder": "https://imgs.example/p"},
                "meta_url": {"scheme": "https", "netloc": "news.example", "hostname": "news.example"},
                "confidence": "high"
            }]}),
        )
    })
}

#[test]
fn a_brave_image_search_adds_photos_and_its_key_never_leaves_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let host = serve(|r: &Request| match r.path.as_str() {
        "/school.jpg" => Reply::bytes("image/jpeg", jpeg("faces/barack_obama/04.jpg")),
        _ => Reply::status(404),
    });
    // Where the redirected query lands: it must arrive without the key.
    let key_seen_elsewhere = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = key_seen_elsewhere.clone();
    let elsewhere = serve(move |r: &Request| {
        if r.header("x-subscription-token").is_some() {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Reply::json(json!({"type": "images", "results": []}))
    });
    let (wd, search) = (
        wikidata(Duration::ZERO),
        brave(&host.url(), &elsewhere.url()),
    );
    let out = run(crawl_cmd(dir.path(), &[&host, &wd, &search, &elsewhere])
        .env("LIFELAPSE_CRAWL_WIKIDATA_URL", wd.url())
        .env("LIFELAPSE_CRAWL_COMMONS_URL", wd.url())
        .env("LIFELAPSE_CRAWL_BRAVE_URL", search.url())
        .env("LIFELAPSE_CRAWL_BRAVE_API_KEY", BRAVE_KEY)
        .args(["crawl", "Barack Obama", "-o", "obama", "--json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let photos = m["photos"].as_array().unwrap();
    let school = photos
        .iter()
        .find(|p| p["provider"] == "brave")
        .unwrap_or_else(|| panic!("no Brave photo: {photos:?}"));
    assert!(school["url"].as_str().unwrap().ends_with("/school.jpg"));
    assert_eq!(school["page"], "https://news.example/obama-school");
    assert_eq!(school["attribution"], "news.example");
    assert_eq!(search.requests.load(std::sync::atomic::Ordering::SeqCst), 4);
    assert_eq!(
        elsewhere.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(!key_seen_elsewhere.load(std::sync::atomic::Ordering::SeqCst));
    assert!(!stderr(&out).contains(BRAVE_KEY));
}
