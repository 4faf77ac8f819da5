//! The Telegram bot end to end: the real `lifelapse serve` binary against a fake Bot API
//! server on 127.0.0.1, with real photos from ../shared/testdata.

mod common;

use common::photo;
use common::running::{http_get, Running};
use common::telegram::{album_to_review, file, is, LONG, OWNER, SHORT, TOKEN};
use lifelapse_test_support::http::free_port;
use lifelapse_test_support::telegram::{post_webhook, Call, FakeTelegram};
use std::time::{Duration, Instant};

const OTHER: i64 = 5151;
/// A group chat (negative ids are groups).
const GROUP: i64 = -100777;

#[test]
fn an_album_becomes_a_review_then_a_video_and_group_members_cannot_press_its_buttons() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let served = Running::serve(&fake, dir.path());

    fake.send_text(GROUP, OWNER, "/start");
    let (_, help) = fake.wait_for(0, SHORT, "the help", is("sendmessage"));
    assert!(help.text().contains("time-lapse"), "{}", help.text());
    assert_eq!(help.params["chat_id"], GROUP);

    let (at, review) = album_to_review(&fake, GROUP);
    let (sheet_name, sheet) = review.file.clone().expect("contact sheet uploaded");
    assert!(sheet_name.ends_with(".jpg"));
    let sheet = image::load_from_memory(&sheet).expect("the sheet is an image");
    assert!(sheet.width() >= 5 * 100, "5 faces side by side");
    let caption = review.text();
    assert!(caption.contains("5 faces"), "{caption}");
    // The intruder starts out left out, with a Keep button; the others are used.
    let keep: Vec<(String, String)> = review
        .buttons()
        .into_iter()
        .filter(|(label, _)| label.starts_with("Keep"))
        .collect();
    assert_eq!(keep.len(), 1, "{:?}", review.buttons());
    let number = keep[0].1.rsplit(':').next().unwrap().to_string();
    assert!(
        caption.contains(&format!("Left out: #{number}")),
        "{caption}"
    );
    let review_id = review.message_id.unwrap();

    // Another member of the group presses the owner's Render: a polite notice, nothing else.
    let before = fake.calls().len();
    fake.press(GROUP, OTHER, review_id, &format!("{OWNER}|render"));
    let (_, notice) = fake.wait_for(before, SHORT, "the notice", is("answercallbackquery"));
    assert!(
        notice.params["text"]
            .as_str()
            .is_some_and(|t| t.contains("belong")),
        "{notice:?}"
    );
    // Forged data naming the other member as owner finds no session of theirs to render.
    fake.press(GROUP, OTHER, review_id, &format!("{OTHER}|render"));
    let (answered, stale) =
        fake.wait_for(before + 1, SHORT, "the answer", is("answercallbackquery"));
    // Updates of one chat are handled in order: once a later /help is answered, the forged
    // press has had all its effect, and it started no render.
    fake.send_text(GROUP, OTHER, "/help");
    let (barrier, _) = fake.wait_for(answered + 1, SHORT, "the help after the press", |c| {
        c.method == "sendmessage" && c.text().contains("time-lapse")
    });
    assert!(
        !fake.calls()[before..barrier]
            .iter()
            .any(|c| c.method == "sendanimation" || c.text().contains("Rendering")),
        "{stale:?}"
    );

    // Keep the flagged face, then remove it again: the review's caption follows.
    let before = fake.calls().len();
    fake.press(GROUP, OWNER, review_id, &keep[0].1);
    let (at2, kept) = fake.wait_for(before, SHORT, "the review edit", is("editmessagecaption"));
    assert!(!kept.text().contains("Left out"), "{}", kept.text());
    let remove = kept
        .buttons()
        .into_iter()
        .find(|(label, _)| label.starts_with("Remove"))
        .expect("remove button");
    fake.press(GROUP, OWNER, review_id, &remove.1);
    let (_, removed) = fake.wait_for(at2 + 1, SHORT, "the review edit", is("editmessagecaption"));
    assert!(removed.text().contains(&format!("Left out: #{number}")));

    // Settings by button: a small GIF this time.
    fake.press(GROUP, OWNER, review_id, &format!("{OWNER}|set:size=256"));
    fake.press(GROUP, OWNER, review_id, &format!("{OWNER}|set:format=gif"));
    let (at3, settings) = fake.wait_for(at2, SHORT, "the settings", |c| {
        c.method == "sendmessage" && c.buttons().iter().any(|(l, _)| l == "✓ format: gif")
    });
    assert!(settings.buttons().iter().any(|(l, _)| l == "✓ size: 256"));

    fake.press(GROUP, OWNER, review_id, &format!("{OWNER}|render"));
    let (_, video) = fake.wait_for(at3, LONG, "the video", is("senddocument"));
    let (name, bytes) = video.file.expect("video uploaded");
    assert_eq!(name, "timelapse.gif");
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&bytes))
        .map(|d| image::AnimationDecoder::into_frames(d).count())
        .expect("a GIF");
    assert!(frames > 4, "{frames} frames");
    let first = image::load_from_memory(&bytes).unwrap();
    assert_eq!((first.width(), first.height()), (256, 256));
    // Progress was one message edited in place, ending in "Done".
    let progress: Vec<Call> = fake.calls()[at..]
        .iter()
        .filter(|c| c.text().starts_with("Rendering…") || c.text() == "Done.")
        .cloned()
        .collect();
    assert!(progress.iter().any(|c| c.text() == "Done."), "{progress:?}");
    assert!(progress
        .iter()
        .skip(1)
        .all(|c| c.method == "editmessagetext"));

    let addr = served.metrics_addr();
    assert!(http_get(&addr, "/health").contains("ok"));
    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.contains("lifelapse_renders_total 1"), "{metrics}");
    assert!(metrics.contains("lifelapse_analyses_total 1"), "{metrics}");

    // /forget deletes the photos, faces and videos now.
    let before = fake.calls().len();
    fake.send_text(GROUP, OWNER, "/forget");
    let (_, forgotten) = fake.wait_for(before, SHORT, "the forget reply", is("sendmessage"));
    assert!(forgotten.text().contains("deleted"), "{}", forgotten.text());
    let left = std::fs::read_dir(dir.path().join("data/photos"))
        .unwrap()
        .count();
    assert_eq!(left, 0, "photos left after /forget");
    // The token never reaches the logs.
    assert!(!served.stderr().contains(TOKEN));
}

#[test]
fn a_restart_in_the_middle_of_a_render_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let mut served = Running::serve(&fake, dir.path());
    let (_, review) = album_to_review(&fake, OWNER);
    let review_id = review.message_id.unwrap();
    // More frames, so the render is surely still running when it is killed.
    fake.press(OWNER, OWNER, review_id, &format!("{OWNER}|set:frames=24"));
    let before = fake.calls().len();
    fake.press(OWNER, OWNER, review_id, &format!("{OWNER}|render"));
    fake.wait_for(before, LONG, "the render's first progress", |c| {
        c.text().starts_with("Rendering")
    });
    // kill -9 in the middle of the render.
    served.kill();
    let after_kill = fake.calls().len();
    assert!(
        !fake.calls().iter().any(|c| c.method == "sendanimation"),
        "the render finished before the kill; make it longer"
    );
    let served = Running::serve(&fake, dir.path());
    let (_, video) = fake.wait_for(
        after_kill,
        LONG,
        "the video after the restart",
        is("sendanimation"),
    );
    let (name, bytes) = video.file.expect("video");
    assert_eq!(name, "timelapse.mp4");
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4");
    // The session goes on: the review is back for another render.
    fake.send_text(OWNER, OWNER, "#1 4");
    let (_, fixed) = fake.wait_for(after_kill, SHORT, "the review after an age fix", |c| {
        c.method == "sendphoto" || c.method == "editmessagecaption"
    });
    assert!(fixed.text().contains("Ages: #1 4,"), "{}", fixed.text());
    // Updates handled before the kill were not handled again (one album reply in all).
    let album_replies = fake
        .calls()
        .iter()
        .filter(|c| c.text().contains("5 photos"))
        .count();
    assert_eq!(album_replies, 1);
    drop(served);
}

#[test]
fn garbage_floods_and_files_that_are_not_photos_get_clear_replies() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let _served = Running::serve(&fake, dir.path());

    // An update of a kind the bot does not know, then a sticker, then unknown command.
    fake.push_raw(serde_json::json!({"some_future_update": {"x": 1}}));
    fake.send_sticker(OWNER, OWNER);
    let (at, sticker) = fake.wait_for(0, SHORT, "the sticker reply", is("sendmessage"));
    assert!(
        sticker.text().contains("only use photos"),
        "{}",
        sticker.text()
    );
    fake.send_text(OWNER, OWNER, "/frobnicate");
    let (at, unknown) = fake.wait_for(
        at + 1,
        SHORT,
        "the unknown-command reply",
        is("sendmessage"),
    );
    assert!(unknown.text().contains("/frobnicate"), "{}", unknown.text());

    // A file that is not an image.
    let not_image = file(&fake, "bad/not_an_image.jpg");
    fake.send_document(OWNER, OWNER, &not_image, "not_an_image.jpg", None);
    let (at, refused) = fake.wait_for(at + 1, SHORT, "the non-image reply", is("sendmessage"));
    assert!(
        refused.text().contains("isn't a photo"),
        "{}",
        refused.text()
    );

    // Telegram's flood limit on the next reply is waited out, not dropped.
    fake.flood_once("sendMessage");
    // A flood of 55 single photos: the limit is said once, and the photos are counted.
    let bytes = std::fs::read(
        photo("faces/barack_obama")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    for _ in 0..55 {
        let id = fake.add_file(bytes.clone());
        fake.send_photo(OWNER, OWNER, &id, None);
    }
    fake.wait_for(at + 1, LONG, "the limit", |c| {
        c.text().contains("the most I take")
    });
    let (_, collected) = fake.wait_for(at + 1, LONG, "the count of the flood", |c| {
        c.method == "sendmessage" && c.text().contains("50 photos so far")
    });
    assert!(collected
        .buttons()
        .iter()
        .any(|(_, d)| d.ends_with("|analyze")));

    // They are all the same picture: a few lines about the duplicates, a count for the rest,
    // and one face is not enough.
    let from = fake.calls().len();
    fake.press(
        OWNER,
        OWNER,
        collected.message_id.unwrap(),
        &format!("{OWNER}|analyze"),
    );
    fake.wait_for(from, LONG, "the duplicates' count", |c| {
        c.text().contains("44 more photos")
    });
    fake.wait_for(from, LONG, "too few faces", |c| {
        c.text().contains("1 usable faces")
    });
    let duplicates = fake.calls()[from..]
        .iter()
        .filter(|c| c.text().contains("same picture"))
        .count();
    assert_eq!(duplicates, 5);
    // The chat's updates are handled in order, so by this answer to a later press any second
    // word about the limit would have come.
    let limit = fake
        .calls()
        .iter()
        .filter(|c| c.text().contains("the most I take"))
        .count();
    assert_eq!(limit, 1, "the limit is said once");

    // Czech for a Czech user.
    fake.send_text_in(777, 777, "cs", "/help");
    let (_, czech) = fake.wait_for(at + 1, SHORT, "the Czech help", |c| {
        c.method == "sendmessage" && c.params["chat_id"] == 777
    });
    assert!(czech.text().contains("časosběr"), "{}", czech.text());
}

#[test]
fn a_name_is_searched_credited_and_dated_from_the_birth_date() {
    use common::fake_http::{FakeServer, Reply, Request};
    use serde_json::json;
    let photos = FakeServer::start(|r: &Request| {
        let file = match r.path.as_str() {
            "/a.jpg" => "faces/jennifer_aniston/01.jpg",
            _ => "faces/jennifer_aniston/02.jpg",
        };
        Reply::bytes("image/jpeg", std::fs::read(photo(file)).unwrap())
    })
    .unwrap();
    let wikidata = FakeServer::start(|r: &Request| match r.param("action") {
        Some("wbsearchentities") => Reply::json(json!({"search": [{"id": "Q32522"}]})),
        _ => Reply::json(json!({"entities": {"Q32522": {
            "labels": {"en": {"value": "Jennifer Aniston"}},
            "sitelinks": {"enwiki": {}},
            "claims": {
                "P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}],
                "P569": [{"mainsnak": {"datavalue": {"value": {"time": "+1969-02-11T00:00:00Z", "precision": 11}}}}],
                "P373": [{"mainsnak": {"datavalue": {"value": "Jennifer Aniston"}}}]
            }
        }}})),
    })
    .unwrap();
    let base = photos.url();
    let commons = FakeServer::start(move |r: &Request| {
        if r.param("list").is_some() {
            return Reply::json(json!({"query": {"categorymembers": [
                {"ns": 6, "title": "File:A.jpg"}, {"ns": 6, "title": "File:B.jpg"}
            ]}}));
        }
        let page = |title: &str, file: &str, date: &str| {
            json!({"title": title, "imageinfo": [{
                "url": format!("{base}/{file}"), "mime": "image/jpeg",
                "descriptionurl": format!("https://commons.example/{title}"),
                "extmetadata": {
                    "DateTimeOriginal": {"value": date},
                    "LicenseShortName": {"value": "CC BY 2.0"},
                    "Artist": {"value": "A. Photographer"},
                    "AttributionRequired": {"value": "true"}
                }
            }]})
        };
        Reply::json(json!({"query": {"pages": {
            "1": page("File:A.jpg", "a.jpg", "1995-05-01"),
            "2": page("File:B.jpg", "b.jpg", "2009-08-01")
        }}}))
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let env = [
        ("LIFELAPSE_CRAWL_WIKIDATA_URL", wikidata.url()),
        ("LIFELAPSE_CRAWL_COMMONS_URL", commons.url()),
        (
            "LIFELAPSE_CRAWL_ALLOW_HOSTS",
            [photos.host(), wikidata.host(), commons.host()].join(","),
        ),
        ("LIFELAPSE_CRAWL_CONTACT", "tests@lifelapse.invalid".into()),
        ("LIFELAPSE_CRAWL_OPENVERSE_URL", String::new()),
    ];
    let mut served = Running::serve_with(&fake, dir.path(), &env);
    fake.send_text(OWNER, OWNER, "/timelapse Jennifer Aniston");
    fake.wait_for(0, SHORT, "the search notice", |c| {
        c.text()
            .contains("Looking for dated photos of Jennifer Aniston")
    });
    fake.wait_for(0, LONG, "the find", |c| {
        c.text().contains("Found 2 photos of Jennifer Aniston")
    });
    fake.wait_for(0, LONG, "the credits", |c| {
        c.text().contains("A. Photographer")
    });
    let (_, review) = fake.wait_for(0, LONG, "the review", is("sendphoto"));
    assert!(review.text().contains("2 faces"), "{}", review.text());
    served.kill();
    // Ages come from the capture dates and the birth date, not from the age network.
    let store = lifelapse::store::SledStore::open(&dir.path().join("data")).unwrap();
    let key = lifelapse::store::SessionKey {
        platform: "telegram".into(),
        chat: OWNER,
        user: OWNER,
    };
    let conversation: lifelapse::chat::conversation::Conversation =
        lifelapse::store::SessionStore::load(&store, &key)
            .unwrap()
            .expect("the session");
    let lifelapse::chat::conversation::State::Reviewing { faces, .. } = conversation.state else {
        panic!("{:?}", conversation.state)
    };
    let ages: Vec<f64> = faces.iter().filter_map(|f| f.age).collect();
    assert_eq!(ages, [26.2, 40.5], "{faces:?}");
}

/// POSTs `body` to the webhook with `secret`; returns the HTTP status line.
fn post_update(addr: &str, secret: Option<&str>, body: &str) -> String {
    post_webhook(addr, secret, body).expect("the webhook answers")
}

#[test]
fn webhook_mode_takes_updates_that_carry_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let listen = format!("127.0.0.1:{}", free_port().unwrap());
    let _served = Running::serve_with(
        &fake,
        dir.path(),
        &[
            (
                "LIFELAPSE_TELEGRAM_WEBHOOK_URL",
                "https://bot.example/hook".to_string(),
            ),
            ("LIFELAPSE_TELEGRAM_WEBHOOK_LISTEN", listen.clone()),
        ],
    );
    let (_, set) = fake.wait_for(0, SHORT, "setWebhook", is("setwebhook"));
    assert_eq!(set.params["url"], "https://bot.example/hook");
    let secret = set.params["secret_token"].as_str().unwrap().to_string();
    assert!(secret.len() >= 16 && !secret.contains("TEST"), "{secret}");
    let update = |id: i64, text: &str| {
        serde_json::json!({"update_id": id, "message": {
            "message_id": id, "date": 1_764_000_000,
            "chat": {"id": OWNER, "type": "private", "first_name": "Pat"},
            "from": {"id": OWNER, "is_bot": false, "first_name": "Pat", "language_code": "en"},
            "text": text,
        }})
        .to_string()
    };
    // Without the secret: refused, and nothing happens.
    assert!(post_update(&listen, None, &update(1, "/help")).contains("401"));
    assert!(post_update(&listen, Some("wrong"), &update(2, "/help")).contains("401"));
    assert!(post_update(&listen, Some(&secret), "not json").contains("400"));
    assert!(post_update(&listen, Some(&secret), &update(3, "/help")).contains("200"));
    let (_, help) = fake.wait_for(0, SHORT, "the help", is("sendmessage"));
    assert!(help.text().contains("time-lapse"));
    // Telegram repeating an update it already delivered: handled once. A later update is
    // handled after it, so its answer is the barrier to count replies at.
    assert!(post_update(&listen, Some(&secret), &update(3, "/help")).contains("200"));
    assert!(post_update(&listen, Some(&secret), &update(4, "/settings")).contains("200"));
    let (barrier, _) = fake.wait_for(0, SHORT, "the settings", |c| {
        c.method == "sendmessage" && c.text().contains("Settings")
    });
    let replies = fake.calls()[..=barrier]
        .iter()
        .filter(|c| c.method == "sendmessage")
        .count();
    assert_eq!(replies, 2, "the repeated update was answered again");
}

/// The percentages of the render progress messages sent to `chat` after call `from`.
fn progress_values(fake: &FakeTelegram, from: usize, chat: i64) -> Vec<u32> {
    fake.calls()[from..]
        .iter()
        .filter(|c| c.chat() == Some(chat) && c.text().starts_with("Rendering…"))
        .filter_map(|c| {
            let digits: String = c.text().chars().filter(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Polls `/metrics` until `line` is in it.
fn wait_for_metric(addr: &str, line: &str) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let metrics = http_get(addr, "/metrics");
        if metrics.lines().any(|l| l == line) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "no {line:?} in {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn generative_renders_share_one_loaded_engine_show_progress_and_stop_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    common::import_psp_fixture(dir.path(), &dir.path().join("data"));
    let fake = FakeTelegram::start(TOKEN).unwrap();
    let served = Running::serve_with(
        &fake,
        dir.path(),
        &[("LIFELAPSE_CHAT_RENDER_WORKERS", "2".into())],
    );
    let addr = served.metrics_addr();
    let (_, review_a) = album_to_review(&fake, OWNER);
    let (_, review_b) = album_to_review(&fake, GROUP);
    let reviews = [
        (OWNER, review_a.message_id.unwrap()),
        (GROUP, review_b.message_id.unwrap()),
    ];
    // Long videos at full size, so the render takes seconds and reports progress on the way.
    let before = fake.calls().len();
    for &(chat, review) in &reviews {
        for setting in ["renderer=stylegan", "size=1024", "frames=60", "format=mp4"] {
            fake.press(chat, OWNER, review, &format!("{OWNER}|set:{setting}"));
        }
        fake.press(chat, OWNER, review, &format!("{OWNER}|render"));
    }
    for &(chat, _) in &reviews {
        let (_, video) = fake.wait_for(before, LONG, "a generated video", |c| {
            c.method == "sendanimation" && c.chat() == Some(chat)
        });
        let (_, bytes) = video.file.expect("video");
        assert_eq!(&bytes[4..8], b"ftyp", "an MP4");
    }
    let shown: Vec<u32> = progress_values(&fake, before, OWNER)
        .into_iter()
        .filter(|p| (1..100).contains(p))
        .collect();
    assert!(shown.len() >= 2, "progress shown: {shown:?}");
    // Both renders ran on the one engine the process loaded.
    let metrics = wait_for_metric(&addr, "lifelapse_renders_total 2");
    assert!(
        metrics
            .lines()
            .any(|l| l == "lifelapse_model_loads_total 1"),
        "{metrics}"
    );
    assert!(!served.stderr().contains("stylegan renderer failed"));

    // /cancel while frames are being generated stops the render and says so.
    let before = fake.calls().len();
    fake.press(GROUP, OWNER, reviews[1].1, &format!("{OWNER}|render"));
    fake.wait_for(before, LONG, "the render under way", |c| {
        c.chat() == Some(GROUP)
            && c.text().starts_with("Rendering…")
            && c.text().chars().any(|ch| ch.is_ascii_digit() && ch != '0')
    });
    let cancelled_at = fake.calls().len();
    fake.send_text(GROUP, OWNER, "/cancel");
    fake.wait_for(cancelled_at, SHORT, "the cancel reply", |c| {
        c.chat() == Some(GROUP) && c.text() == "Stopped."
    });
    wait_for_metric(&addr, "lifelapse_renders_running 0");
    assert!(
        !fake.calls()[before..]
            .iter()
            .any(|c| c.method == "sendanimation"),
        "a cancelled render delivered its video"
    );
    let metrics = http_get(&addr, "/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l == "lifelapse_model_loads_total 1"),
        "{metrics}"
    );
}
