//! The Discord bot end to end: the real `lifelapse serve` binary against a fake Discord (HTTP
//! API and gateway) on 127.0.0.1, with real photos from ../shared/testdata.

mod common;

use common::running::Running;
use common::{lifelapse, photo};
use lifelapse_test_support::discord::{DCall, FakeDiscord};
use std::path::Path;
use std::time::Duration;

const OWNER: u64 = 300_000_000_000_000_001;
const OTHER: u64 = 300_000_000_000_000_002;
const CHANNEL: u64 = 400_000_000_000_000_001;
const LONG: Duration = Duration::from_secs(240);
const SHORT: Duration = Duration::from_secs(30);

/// `lifelapse serve` against the fake Discord, its data in `dir`.
fn serve(fake: &FakeDiscord, dir: &Path) -> Running {
    let mut command = lifelapse(dir);
    command
        .arg("serve")
        .env("LIFELAPSE_DISCORD_TOKEN", "discord-test-token")
        .env("LIFELAPSE_DISCORD_API_URL", fake.url())
        .env("LIFELAPSE_DATA_DIR", dir.join("data"))
        .env("LIFELAPSE_CHAT_METRICS_ADDR", "");
    Running::spawn(command)
}

fn album(fake: &FakeDiscord) -> Vec<serde_json::Value> {
    let dir = common::testdata().join("faces/barack_obama");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names.push(photo("intruders/01.jpg"));
    names
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            fake.attachment(&name, std::fs::read(p).unwrap())
        })
        .collect()
}

/// The review: a channel message with the contact sheet attached.
fn is_review(c: &DCall) -> bool {
    c.method == "POST" && c.path.ends_with("/messages") && !c.files.is_empty()
}

fn callback_type(c: &DCall) -> Option<u64> {
    (c.method == "POST" && c.path.ends_with("/callback"))
        .then(|| c.json["type"].as_u64().unwrap_or(0))
}

/// `/timelapse` with the album, then "Find the faces": returns the review message call.
fn to_review(fake: &FakeDiscord) -> (usize, DCall) {
    let photos = album(fake);
    let start = fake.calls().len();
    fake.slash(1, CHANNEL, OWNER, None, &photos);
    // Deferred within Discord's window, then the deferred response says how many photos.
    fake.wait_for(start, SHORT, "the deferral", |c| {
        callback_type(c) == Some(5)
    });
    // The deferred response gets the first reply; the album's count follows in the channel.
    fake.wait_for(start, SHORT, "the first reply", |c| {
        c.path.contains("token-1/messages/@original") && c.content().contains("Send me the photos")
    });
    let (at, collected) = fake.wait_for(start, SHORT, "the album's reply", |c| {
        c.content().contains("5 photos")
    });
    let analyze = collected
        .buttons()
        .into_iter()
        .find(|(_, id)| id.ends_with("|analyze"))
        .expect("analyze button");
    fake.press(2, CHANNEL, OWNER, &analyze.1, 8_388_608);
    fake.wait_for(at, LONG, "the review", is_review)
}

#[test]
fn slash_command_to_review_to_a_video_shrunk_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start();
    let _served = serve(&fake, dir.path());
    fake.wait_ready();
    let (_, register) = fake.wait_for(0, SHORT, "registration", |c| c.method == "PUT");
    let names: Vec<&str> = register
        .json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["timelapse", "Make a time-lapse"]);
    assert_eq!(
        register.json[1]["type"], 3,
        "a message context-menu command"
    );
    assert!(register.json[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["type"] == 11));

    let (at, review) = to_review(&fake);
    assert_eq!(review.files[0].0, "faces.jpg");
    assert!(image::load_from_memory(&review.files[0].1).is_ok());
    assert!(review.content().contains("5 faces"), "{}", review.content());
    let keep = review
        .buttons()
        .into_iter()
        .find(|(label, _)| label.starts_with("Keep"))
        .expect("keep button for the intruder");
    assert!(review.rows() <= 5);

    // Another member's press: an ephemeral notice (flag 64), nothing else.
    let before = fake.calls().len();
    fake.press(3, CHANNEL, OTHER, &format!("{OWNER}|render"), 8_388_608);
    let (_, notice) = fake.wait_for(before, SHORT, "the notice", |c| callback_type(c) == Some(4));
    assert_eq!(notice.json["data"]["flags"], 64);
    assert!(notice.json["data"]["content"]
        .as_str()
        .unwrap()
        .contains("belong"));

    // Keep, then remove the flagged face: the review message is edited.
    let before = fake.calls().len();
    fake.press(4, CHANNEL, OWNER, &keep.1, 8_388_608);
    let (_, kept) = fake.wait_for(before, SHORT, "the edited review", |c| {
        c.method == "PATCH" && c.path.contains("/channels/")
    });
    assert!(!kept.content().contains("Left out"), "{}", kept.content());
    let remove = kept
        .buttons()
        .into_iter()
        .find(|(l, _)| l.starts_with("Remove"))
        .expect("remove");
    let before = fake.calls().len();
    fake.press(5, CHANNEL, OWNER, &remove.1, 8_388_608);
    let (_, removed) = fake.wait_for(before, SHORT, "the edited review", |c| {
        c.method == "PATCH" && c.path.contains("/channels/")
    });
    assert!(
        removed.content().contains("Left out"),
        "{}",
        removed.content()
    );

    // Render with a small upload limit: the video is made smaller to fit, and says so.
    let limit = 150_000;
    let before = fake.calls().len();
    fake.press(6, CHANNEL, OWNER, &format!("{OWNER}|render"), limit);
    let (_, video) = fake.wait_for(before, LONG, "the video", |c| {
        c.path.contains("token-6/messages/@original") && !c.files.is_empty()
    });
    let (name, bytes) = &video.files[0];
    assert_eq!(name, "timelapse.mp4");
    assert!(bytes.len() as u64 <= limit, "{} bytes", bytes.len());
    assert!(video.content().contains("made it"), "{}", video.content());
    // Progress edited the same deferred response before the video.
    assert!(fake.calls()[before..]
        .iter()
        .any(|c| c.path.contains("token-6/messages/@original")
            && c.content().starts_with("Rendering")));

    // As a GIF, the side that fits is predicted from a short trial encode: one render at the
    // largest side predicted to fit, not at half the size.
    let before = fake.calls().len();
    fake.press(7, CHANNEL, OWNER, &format!("{OWNER}|set:format=gif"), limit);
    fake.wait_for(before, SHORT, "the settings", |c| {
        c.buttons().iter().any(|(l, _)| l == "✓ format: gif")
    });
    let gif_video = |id: u64, limit: u64| {
        let before = fake.calls().len();
        fake.press(id, CHANNEL, OWNER, &format!("{OWNER}|render"), limit);
        let token = format!("token-{id}/messages/@original");
        let (_, video) = fake.wait_for(before, LONG, "the GIF", |c| {
            c.path.contains(&token) && !c.files.is_empty()
        });
        video
    };
    let whole = gif_video(8, 1 << 30);
    let (name, bytes) = &whole.files[0];
    assert_eq!(name, "timelapse.gif");
    assert_eq!(image::load_from_memory(bytes).unwrap().width(), 512);
    let limit = bytes.len() as u64 / 2;
    let fitted = gif_video(9, limit);
    let (name, bytes) = &fitted.files[0];
    assert_eq!(name, "timelapse.gif");
    assert!(
        bytes.len() as u64 <= limit,
        "{} bytes over {limit}",
        bytes.len()
    );
    let side = image::load_from_memory(bytes).unwrap().width();
    assert!((257..512).contains(&side), "{side} px");
    let said = fitted.content();
    assert!(
        said.contains("made it") && said.contains(&side.to_string()),
        "{said}"
    );
    let _ = at;
}

#[test]
fn a_restart_mid_session_continues_and_photos_posted_later_join() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start();
    let served = serve(&fake, dir.path());
    fake.wait_ready();
    // Photos posted in the channel while the session collects join it.
    let photos = album(&fake);
    let start = fake.calls().len();
    fake.slash(10, CHANNEL, OWNER, None, &photos[..2]);
    fake.wait_for(start, SHORT, "the first reply", |c| {
        c.content().contains("2 photos")
    });
    fake.post(11, CHANNEL, OWNER, "", &photos[2..]);
    let (_, collected) = fake.wait_for(start, SHORT, "the count", |c| {
        c.content().contains("5 photos")
    });
    let analyze = collected
        .buttons()
        .into_iter()
        .find(|(_, id)| id.ends_with("|analyze"))
        .unwrap();
    drop(served);

    // Restarted: the session is where it was.
    let (connections, registered) = (fake.connections(), fake.calls().len());
    let _served = serve(&fake, dir.path());
    fake.wait_connections(connections + 1);
    // Ready again: it registers its commands on READY.
    fake.wait_for(
        registered,
        SHORT,
        "command registration after the restart",
        |c| c.method == "PUT" && c.path.ends_with("/commands"),
    );
    let before = fake.calls().len();
    fake.press(12, CHANNEL, OWNER, &analyze.1, 8_388_608);
    let (_, review) = fake.wait_for(before, LONG, "the review after the restart", is_review);
    assert!(review.content().contains("5 faces"), "{}", review.content());
}

#[test]
fn the_message_command_hands_over_an_album_and_a_form_fixes_an_age() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start();
    let _served = serve(&fake, dir.path());
    fake.wait_ready();
    let photos = album(&fake);
    let start = fake.calls().len();
    fake.message_command(20, CHANNEL, OWNER, 555_000_000_000_000_001, &photos);
    fake.wait_for(start, SHORT, "the deferral", |c| {
        callback_type(c) == Some(5)
    });
    let (_, collected) = fake.wait_for(start, SHORT, "the count", |c| {
        c.content().contains("5 photos")
    });
    let analyze = collected
        .buttons()
        .into_iter()
        .find(|(_, id)| id.ends_with("|analyze"))
        .unwrap();
    fake.press(21, CHANNEL, OWNER, &analyze.1, 8_388_608);
    let (at, review) = fake.wait_for(start, LONG, "the review", is_review);
    let fix = review
        .buttons()
        .into_iter()
        .find(|(_, id)| id.ends_with("|fix-age"))
        .unwrap();
    fake.press(22, CHANNEL, OWNER, &fix.1, 8_388_608);
    let (_, form) = fake.wait_for(at, SHORT, "the age form", |c| callback_type(c) == Some(9));
    let form_id = form.json["data"]["custom_id"].as_str().unwrap().to_string();
    assert_eq!(form_id, format!("{OWNER}|age"));
    let before = fake.calls().len();
    fake.modal_submit(23, CHANNEL, OWNER, &form_id, "#2 11");
    // The review is edited in place (the conversation took the age).
    fake.wait_for(before, SHORT, "the review edit", |c| {
        c.method == "PATCH" && c.path.contains("/channels/")
    });
    // A form with nonsense is answered with the format.
    let before = fake.calls().len();
    fake.modal_submit(24, CHANNEL, OWNER, &form_id, "eleven");
    fake.wait_for(before, SHORT, "the format hint", |c| {
        c.content().contains("#3 12")
    });
}

#[test]
fn one_process_serves_telegram_and_discord_together() {
    use lifelapse_test_support::telegram::FakeTelegram;
    let dir = tempfile::tempdir().unwrap();
    let discord = FakeDiscord::start();
    let telegram = FakeTelegram::start("77:BOTH").unwrap();
    let mut command = lifelapse(dir.path());
    command
        .arg("serve")
        .env("LIFELAPSE_DISCORD_TOKEN", "discord-test-token")
        .env("LIFELAPSE_DISCORD_API_URL", discord.url())
        .env("LIFELAPSE_TELEGRAM_TOKEN", "77:BOTH")
        .env("LIFELAPSE_TELEGRAM_API_URL", telegram.url())
        .env("LIFELAPSE_TELEGRAM_POLL_TIMEOUT_S", "1")
        .env("LIFELAPSE_DATA_DIR", dir.path().join("data"))
        .env("LIFELAPSE_CHAT_METRICS_ADDR", "");
    let mut served = Running::spawn(command);
    discord.wait_ready();
    telegram.send_text(9, 9, "/help");
    telegram.wait_for(0, SHORT, "the Telegram help", |c| c.method == "sendmessage");
    let photos = album(&discord);
    let start = discord.calls().len();
    discord.slash(30, CHANNEL, OWNER, None, &photos[..1]);
    discord.wait_for(start, SHORT, "the Discord reply", |c| {
        c.content().contains("at least two photos")
    });
    // Both sessions are in the one store.
    served.kill();
    let store = lifelapse::store::SledStore::<lifelapse::chat::conversation::Conversation>::open(
        &dir.path().join("data"),
    )
    .unwrap();
    let platforms: std::collections::BTreeSet<String> =
        lifelapse::store::SessionStore::sessions(&store)
            .unwrap()
            .into_iter()
            .map(|k| k.platform)
            .collect();
    assert!(
        platforms.contains("discord") && platforms.contains("telegram"),
        "{platforms:?}"
    );
}

#[test]
fn a_name_with_attached_photos_uses_the_photos_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start();
    let _served = serve(&fake, dir.path());
    fake.wait_ready();
    let photos = album(&fake);
    let start = fake.calls().len();
    fake.slash(1, CHANNEL, OWNER, Some("Barack Obama"), &photos);
    fake.wait_for(start, SHORT, "the notice about the name", |c| {
        c.content().contains("photos you attached") && c.content().contains("Barack Obama")
    });
    let (at, _) = fake.wait_for(start, SHORT, "the album's reply", |c| {
        c.content().contains("5 photos")
    });
    assert!(
        !fake.calls()[start..at]
            .iter()
            .any(|c| c.content().contains("Looking for dated photos")),
        "the name was searched"
    );
}
