//! `/timelapse NAME` in a chat: the conversation asks for a crawl, the crawl job (the same
//! crawl as `lifelapse crawl`) runs against fake Wikidata, Commons and photo servers on
//! 127.0.0.1, keeps the photos in a real sled store, and the conversation moves on to the
//! analysis with the credit lines in its reply.

mod common;

use common::fake_http::{FakeServer, Reply, Request};
use lifelapse::chat::conversation::{Action, Command, Conversation, Event};
use lifelapse::chat::jobs;
use lifelapse::config::{Config, Secrets};
use lifelapse::crawl::CrawlOptions;
use lifelapse::store::{SessionKey, SessionStore, SledStore};
use serde_json::json;

fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(handler).expect("fake server")
}

#[test]
fn a_name_in_the_chat_becomes_stored_photos_credits_and_an_analysis() {
    let photos = serve(|r: &Request| {
        let file = match r.path.as_str() {
            "/a.jpg" => "faces/jennifer_aniston/01.jpg",
            _ => "faces/jennifer_aniston/02.jpg",
        };
        Reply::bytes("image/jpeg", std::fs::read(common::photo(file)).unwrap())
    });
    let wikidata = serve(|r: &Request| match r.param("action") {
        Some("wbsearchentities") if r.param("search") == Some("Jennifer Aniston") => {
            Reply::json(json!({"search": [{"id": "Q32522"}]}))
        }
        Some("wbsearchentities") => Reply::json(json!({"search": []})),
        _ => Reply::json(json!({"entities": {"Q32522": {
            "labels": {"en": {"value": "Jennifer Aniston"}},
            "sitelinks": {"enwiki": {}},
            "claims": {
                "P31": [{"mainsnak": {"datavalue": {"value": {"id": "Q5"}}}}],
                "P569": [{"mainsnak": {"datavalue": {"value": {"time": "+1969-02-11T00:00:00Z", "precision": 11}}}}],
                "P373": [{"mainsnak": {"datavalue": {"value": "Jennifer Aniston"}}}]
            }
        }}})),
    });
    let base = photos.url();
    let commons = serve(move |r: &Request| {
        if r.param("list").is_some() {
            return Reply::json(json!({"query": {"categorymembers": [
                {"ns": 6, "title": "File:A.jpg"}, {"ns": 6, "title": "File:B.jpg"}
            ]}}));
        }
        let page = |title: &str, file: &str| {
            json!({"title": title, "imageinfo": [{
                "url": format!("{base}/{file}"), "mime": "image/jpeg",
                "descriptionurl": format!("https://commons.example/{title}"),
                "extmetadata": {
                    "DateTimeOriginal": {"value": "1995-05-01"},
                    "LicenseShortName": {"value": "CC BY 2.0"},
                    "Artist": {"value": "A. Photographer"},
                    "AttributionRequired": {"value": "true"}
                }
            }]})
        };
        Reply::json(json!({"query": {"pages": {
            "1": page("File:A.jpg", "a.jpg"), "2": page("File:B.jpg", "b.jpg")
        }}}))
    });
    let mut config = Config::default();
    config.crawl.wikidata_url = wikidata.url();
    config.crawl.openverse_url = String::new();
    config.crawl.commons_url = commons.url();
    config.crawl.allow_hosts = [photos.host(), wikidata.host(), commons.host()].join(",");
    config.crawl.contact = "tests@lifelapse.invalid".into();
    let options = CrawlOptions::from_config(&config, &Secrets::default());

    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let key = SessionKey {
        platform: "telegram".into(),
        chat: -100,
        user: 5,
    };
    let mut chat = Conversation::default();
    let actions = chat.handle(Event::Command {
        user: 5,
        command: Command::Timelapse(Some("Jennifer Aniston".into())),
    });
    let Some(Action::Crawl { name }) = actions.last() else {
        panic!("{actions:?}")
    };
    let answer = jobs::crawl_for_session(&store, &key, name, &options);
    let actions = chat.handle(answer);
    let Some(Action::Analyze { photos: refs }) = actions.last() else {
        panic!("{actions:?}")
    };
    assert_eq!(refs.len(), 2);
    for r in refs {
        let hash = r.file_id.strip_prefix(jobs::STORED).expect("stored photo");
        assert!(store.get_file(hash).unwrap().is_some());
    }
    let credits = actions
        .iter()
        .find_map(|a| match a {
            Action::Reply { key, args } if key == "chat-crawl-credits" => {
                Some(args["lines"].clone())
            }
            _ => None,
        })
        .expect("credit lines in the reply");
    assert!(
        credits.contains("A. Photographer") && credits.contains("CC BY 2.0"),
        "{credits}"
    );

    // A name nobody has: a clear reply and back to idle.
    let mut chat = Conversation::default();
    chat.handle(Event::Command {
        user: 5,
        command: Command::Timelapse(Some("Qwxz Nobody".into())),
    });
    let answer = jobs::crawl_for_session(&store, &key, "Qwxz Nobody", &options);
    let actions = chat.handle(answer);
    assert!(matches!(&actions[..], [Action::Reply { key, .. }] if key == "chat-crawl-unknown"));
}

#[test]
fn a_search_that_cannot_reach_its_sources_says_so_in_the_users_words_only() {
    // Wikidata answers every call with a server error; the chat must not see the URL or error.
    let wikidata = serve(|_: &Request| Reply::status(503));
    let mut config = Config::default();
    config.crawl.wikidata_url = wikidata.url();
    config.crawl.openverse_url = String::new();
    config.crawl.commons_url = wikidata.url();
    config.crawl.allow_hosts = wikidata.host();
    config.crawl.contact = "tests@lifelapse.invalid".into();
    let options = CrawlOptions::from_config(&config, &Secrets::default());
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let key = SessionKey {
        platform: "telegram".into(),
        chat: 7,
        user: 7,
    };
    let mut chat = Conversation::default();
    chat.handle(Event::Command {
        user: 7,
        command: Command::Timelapse(Some("Jennifer Aniston".into())),
    });
    let answer = jobs::crawl_for_session(&store, &key, "Jennifer Aniston", &options);
    assert!(
        matches!(
            answer,
            Event::CrawlFailed {
                trouble: lifelapse::chat::conversation::Trouble::SourcesUnavailable
            }
        ),
        "{answer:?}"
    );
    let actions = chat.handle(answer);
    match &actions[..] {
        [Action::Reply { key, args }] => {
            assert_eq!(key, "chat-sources-unavailable");
            assert!(args.is_empty(), "{args:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_bot_without_a_contact_for_wikimedia_says_name_search_is_not_set_up() {
    let wikidata = serve(|_: &Request| Reply::json(json!({"search": []})));
    let mut config = Config::default();
    config.crawl.wikidata_url = wikidata.url();
    config.crawl.openverse_url = String::new();
    config.crawl.allow_hosts = wikidata.host();
    let options = CrawlOptions::from_config(&config, &Secrets::default());
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let key = SessionKey {
        platform: "telegram".into(),
        chat: 8,
        user: 8,
    };
    let mut chat = Conversation::default();
    chat.handle(Event::Command {
        user: 8,
        command: Command::Timelapse(Some("Jennifer Aniston".into())),
    });
    let answer = jobs::crawl_for_session(&store, &key, "Jennifer Aniston", &options);
    let actions = chat.handle(answer);
    match &actions[..] {
        [Action::Reply { key, args }] => {
            assert_eq!(key, "chat-name-search-off");
            assert!(args.is_empty(), "{args:?}");
        }
        other => panic!("{other:?}"),
    }
    // Returned before any request.
    assert_eq!(
        wikidata.requests.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}
