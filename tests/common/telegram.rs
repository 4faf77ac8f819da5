//! The Telegram bot driven through the fake Bot API: `lifelapse serve` against it and the steps
//! most conversations start with.

use super::running::Running;
use super::{lifelapse, photo};
use lifelapse_test_support::telegram::{Call, FakeTelegram};
use std::path::Path;
use std::time::Duration;

pub const TOKEN: &str = "123456:TEST-TOKEN";
pub const OWNER: i64 = 4242;

impl Running {
    /// `lifelapse serve` against the fake Bot API, its data in `data`.
    pub fn serve(fake: &FakeTelegram, data: &Path) -> Self {
        Self::serve_with(fake, data, &[])
    }

    /// `lifelapse serve` with `env` set too.
    pub fn serve_with(fake: &FakeTelegram, data: &Path, env: &[(&str, String)]) -> Self {
        let mut command = lifelapse(data);
        command
            .arg("serve")
            .env("LIFELAPSE_TELEGRAM_TOKEN", TOKEN)
            .env("LIFELAPSE_TELEGRAM_API_URL", fake.url())
            .env("LIFELAPSE_TELEGRAM_POLL_TIMEOUT_S", "1")
            .env("LIFELAPSE_DATA_DIR", data.join("data"))
            .env("LIFELAPSE_CHAT_METRICS_ADDR", "127.0.0.1:0");
        for (k, v) in env {
            command.env(k, v);
        }
        Self::spawn(command)
    }
}

pub fn file(fake: &FakeTelegram, rel: &str) -> String {
    fake.add_file(std::fs::read(photo(rel)).expect("test photo"))
}

/// The test photo re-encoded as HEIC by heif-enc; None where it is not installed (CI installs
/// it, so there it must work).
pub fn heic_of(rel: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let out = dir.path().join("photo.heic");
    let encoded = std::process::Command::new("heif-enc")
        .args(["-q", "60", "-o"])
        .arg(&out)
        .arg(photo(rel))
        .output();
    match encoded {
        Ok(o) if o.status.success() => std::fs::read(&out).ok(),
        _ if std::env::var_os("CI").is_none() => None,
        other => panic!("heif-enc failed in CI: {other:?}"),
    }
}

pub const LONG: Duration = Duration::from_secs(240);
pub const SHORT: Duration = Duration::from_secs(30);

pub fn is(method: &'static str) -> impl Fn(&Call) -> bool {
    move |c: &Call| c.method == method
}

/// Sends Barack Obama's four photos as files plus an intruder as a compressed photo, all as
/// one album, and asks for the analysis. Returns the review call.
pub fn album_to_review(fake: &FakeTelegram, chat: i64) -> (usize, Call) {
    let start = fake.calls().len();
    let dir = super::testdata().join("faces/barack_obama");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        // The first one as HEIC (as phones send it), where libheif's encoder is installed.
        let heic = (i == 0)
            .then(|| heic_of(&format!("faces/barack_obama/{name}")))
            .flatten();
        let (id, name) = match heic {
            Some(bytes) => (fake.add_file(bytes), "IMG_0001.HEIC".to_string()),
            None => (
                file(fake, &format!("faces/barack_obama/{name}")),
                name.clone(),
            ),
        };
        fake.send_document(chat, OWNER, &id, &name, Some("album-1"));
    }
    let intruder = file(fake, "intruders/01.jpg");
    fake.send_photo(chat, OWNER, &intruder, Some("album-1"));
    // One reply for the whole album, with the button that starts the analysis.
    let (at, collected) = fake.wait_for(start, SHORT, "the album's reply", |c| {
        c.method == "sendmessage" && c.text().contains("5 photos")
    });
    let analyze = collected
        .buttons()
        .into_iter()
        .find(|(_, data)| data.ends_with("|analyze"))
        .expect("analyze button");
    assert_eq!(analyze.1, format!("{OWNER}|analyze"));
    let replies_for_album = fake.calls()[start..]
        .iter()
        .filter(|c| c.method == "sendmessage")
        .count();
    assert_eq!(replies_for_album, 1, "an album is one reply, not five");
    fake.press(chat, OWNER, collected.message_id.unwrap(), &analyze.1);
    fake.wait_for(at, LONG, "the review", is("sendphoto"))
}
