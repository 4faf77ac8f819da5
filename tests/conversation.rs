//! The chat conversation alone, with plain values: no platform, no network.

use lifelapse::chat::conversation::*;
use lifelapse::config::{Background, GeneratorChoice, RendererKind};

const OWNER: UserId = 1;
const OTHER: UserId = 2;

fn photo(i: usize, as_file: bool) -> PhotoRef {
    PhotoRef {
        file_id: format!("file-{i}"),
        as_file,
        age: None,
    }
}

fn keys(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Reply { key, .. } | Action::Ask { key, .. } | Action::Notice { key, .. } => {
                key.clone()
            }
            other => format!("{other:?}")
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

fn face(number: usize, age: f64, left_out: bool) -> FaceSummary {
    FaceSummary {
        number,
        age: Some(age),
        left_out,
        removed: false,
    }
}

/// A conversation that has collected an album and got its analysis back: faces 1–4, face 3
/// a suspected intruder.
fn reviewing() -> (Conversation, Vec<Action>) {
    let mut c = Conversation::default();
    for i in 0..4 {
        c.handle(Event::Photo {
            user: OWNER,
            photo: photo(i, false),
            album: Some("album-1".into()),
        });
    }
    c.handle(Event::AlbumSettled {
        album: "album-1".into(),
    });
    c.handle(Event::Button {
        user: OWNER,
        data: "analyze".into(),
    });
    let actions = c.handle(Event::Analyzed {
        faces: vec![
            face(1, 5.0, false),
            face(2, 9.0, false),
            face(3, 30.0, true),
            face(4, 14.0, false),
        ],
        undated: 4,
        sheet: "sheet-hash".into(),
    });
    (c, actions)
}

#[test]
fn start_and_help_explain_and_unknown_commands_are_answered() {
    let mut c = Conversation::default();
    assert_eq!(
        keys(&c.handle(Event::Command {
            user: OWNER,
            command: Command::Start
        })),
        ["chat-help"]
    );
    assert_eq!(
        keys(&c.handle(Event::Command {
            user: OWNER,
            command: Command::Help
        })),
        ["chat-help"]
    );
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::Unknown("/frobnicate".into()),
    });
    assert_eq!(keys(&a), ["chat-unknown-command"]);
}

#[test]
fn an_album_is_one_step_not_one_reply_per_photo() {
    let mut c = Conversation::default();
    let mut actions = Vec::new();
    for i in 0..10 {
        actions.extend(c.handle(Event::Photo {
            user: OWNER,
            photo: photo(i, true),
            album: Some("g1".into()),
        }));
    }
    assert_eq!(
        actions,
        vec![Action::StartTimer {
            album: "g1".into(),
            after_ms: ALBUM_DEBOUNCE_MS
        }]
    );
    let settled = c.handle(Event::AlbumSettled { album: "g1".into() });
    let Action::Ask { key, args, buttons } = &settled[0] else {
        panic!("{settled:?}")
    };
    assert_eq!(key, "chat-photos-collected");
    assert_eq!(args["count"], "10");
    assert_eq!(buttons[0][0].data, "analyze");
    let a = c.handle(Event::Button {
        user: OWNER,
        data: "analyze".into(),
    });
    match &a[..] {
        [Action::Reply { .. }, Action::Analyze { photos }] => assert_eq!(photos.len(), 10),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_review_marks_intruders_and_buttons_remove_and_keep_them() {
    let (mut c, actions) = reviewing();
    // Compressed photos without dates: the hint about sending files, once.
    assert_eq!(keys(&actions), ["chat-dates-hint", "ShowReview"]);
    let Action::ShowReview { sheet, .. } = &actions[1] else {
        panic!()
    };
    assert_eq!(sheet, "sheet-hash");
    let Action::ShowReview { faces, buttons, .. } = &actions[1] else {
        panic!()
    };
    assert!(
        faces[2].left_out && faces[2].removed,
        "the intruder starts out removed"
    );
    assert_eq!(buttons[0][0].data, "keep:3");
    let datas: Vec<&str> = buttons
        .last()
        .unwrap()
        .iter()
        .map(|b| b.data.as_str())
        .collect();
    assert_eq!(datas, ["fix-age", "set:show", "render"]);

    let a = c.handle(Event::Button {
        user: OWNER,
        data: "keep:3".into(),
    });
    let Action::ShowReview { faces, buttons, .. } = &a[0] else {
        panic!()
    };
    assert!(!faces[2].removed);
    assert_eq!(buttons[0][0].data, "remove:3");
    c.handle(Event::Button {
        user: OWNER,
        data: "remove:3".into(),
    });

    let a = c.handle(Event::Button {
        user: OWNER,
        data: "render".into(),
    });
    match &a[..] {
        [Action::Reply { .. }, Action::Render {
            faces, settings, ..
        }] => {
            assert_eq!(faces, &vec![1, 2, 4]);
            assert_eq!(settings.renderer, RendererKind::Morph);
        }
        other => panic!("{other:?}"),
    }
    // Progress goes to the progress message; when done, the review is back for another try.
    assert_eq!(
        c.handle(Event::RenderProgress { percent: 40 }),
        vec![Action::Progress { percent: 40 }]
    );
    assert_eq!(
        c.handle(Event::Rendered {
            video: "video-hash".into(),
            mp4: true,
            shrunk: None
        }),
        vec![Action::SendVideo {
            video: "video-hash".into(),
            mp4: true,
            shrunk: None
        }]
    );
    assert!(matches!(c.state, State::Reviewing { .. }));
    // The hint is not repeated.
    let again = c.handle(Event::Analyzed {
        faces: vec![],
        undated: 3,
        sheet: String::new(),
    });
    assert!(!keys(&again).contains(&"chat-dates-hint".to_string()));
}

#[test]
fn ages_are_fixed_by_typing_and_settings_change_by_buttons() {
    let (mut c, _) = reviewing();
    c.handle(Event::Button {
        user: OWNER,
        data: "fix-age".into(),
    });
    assert_eq!(
        keys(&c.handle(Event::Text {
            user: OWNER,
            text: "twelve".into()
        })),
        ["chat-age-format"]
    );
    c.handle(Event::Text {
        user: OWNER,
        text: "#2 12".into(),
    });
    let State::Reviewing { ages, faces, .. } = &c.state else {
        panic!()
    };
    assert_eq!(ages.get(&2), Some(&12.0));
    assert_eq!(faces[1].age, Some(12.0));
    assert_eq!(
        keys(&c.handle(Event::Text {
            user: OWNER,
            text: "#9 12".into()
        })),
        ["chat-age-format"]
    );

    c.handle(Event::Button {
        user: OWNER,
        data: "set:renderer=pixel".into(),
    });
    c.handle(Event::Button {
        user: OWNER,
        data: "set:format=gif".into(),
    });
    c.handle(Event::Button {
        user: OWNER,
        data: "set:gamma=0".into(),
    });
    assert_eq!(c.settings.background, Background::Blur, "the default");
    c.handle(Event::Button {
        user: OWNER,
        data: "set:background=plain".into(),
    });
    assert_eq!(c.settings.background, Background::Plain);
    assert_eq!(
        c.settings.render_overrides().background,
        Some(Background::Plain)
    );
    assert_eq!(c.settings.renderer, RendererKind::Pixel);
    assert!(!c.settings.mp4);
    assert_eq!(c.settings.gamma, 0.0);
    // Forged or stale button data changes nothing.
    for data in [
        "set:renderer=rm -rf",
        "set:background=sepia",
        "set:size=99999",
        "remove:77",
        "render:now",
        "\u{0}",
    ] {
        let before = c.clone();
        assert_eq!(
            keys(&c.handle(Event::Button {
                user: OWNER,
                data: data.into()
            })),
            ["chat-stale-button"],
            "{data}"
        );
        assert_eq!(c, before);
    }
    assert_eq!(parse_age_fix("3 12,5"), Some((3, 12.5)));
    assert_eq!(parse_age_fix("#3=7"), Some((3, 7.0)));
    assert_eq!(parse_age_fix("#3 700"), None);
}

#[test]
fn another_member_of_a_group_cannot_press_the_owners_buttons() {
    let (mut c, _) = reviewing();
    let before = c.clone();
    let a = c.handle(Event::Button {
        user: OTHER,
        data: "render".into(),
    });
    assert_eq!(
        a,
        vec![Action::Notice {
            user: OTHER,
            key: "chat-not-your-session".into()
        }]
    );
    assert!(c
        .handle(Event::Text {
            user: OTHER,
            text: "#1 3".into()
        })
        .is_empty());
    assert_eq!(c, before);
}

#[test]
fn floods_non_images_cancel_and_forget() {
    let mut c = Conversation::default();
    let mut replies = 0;
    for i in 0..MAX_PHOTOS + 10 {
        let a = c.handle(Event::Photo {
            user: OWNER,
            photo: photo(i, true),
            album: None,
        });
        if keys(&a).contains(&"chat-too-many-photos".to_string()) {
            replies += 1;
        }
    }
    assert_eq!(replies, 1, "the limit is said once");
    let State::Collecting { photos, .. } = &c.state else {
        panic!()
    };
    assert_eq!(photos.len(), MAX_PHOTOS);
    assert_eq!(
        keys(&c.handle(Event::NotAnImage { user: OWNER })),
        ["chat-not-an-image"]
    );

    let (mut c, _) = reviewing();
    c.handle(Event::Button {
        user: OWNER,
        data: "render".into(),
    });
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::Cancel,
    });
    assert_eq!(a[0], Action::CancelJob);
    assert_eq!(c.state, State::Idle);

    let (mut c, _) = reviewing();
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::Forget,
    });
    assert!(a.contains(&Action::DeleteData));
    assert_eq!(c, Conversation::default());
}

#[test]
fn a_name_searches_and_a_stored_conversation_reads_back() {
    let mut c = Conversation::default();
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::Timelapse(Some(" Steve Carell ".into())),
    });
    assert_eq!(
        a[1],
        Action::Crawl {
            name: "Steve Carell".into()
        }
    );

    let (c, _) = reviewing();
    let json = serde_json::to_string(&c).unwrap();
    let back: Conversation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    assert_eq!(back.version, SCHEMA_VERSION);
}

#[test]
fn photos_given_with_a_name_are_the_album_and_the_name_is_not_searched() {
    let mut c = Conversation::default();
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::TimelapseWithPhotos(Some("Steve Carell".into())),
    });
    assert_eq!(keys(&a), ["chat-send-photos", "chat-photos-over-name"]);
    assert!(!a.iter().any(|x| matches!(x, Action::Crawl { .. })));
    // The photos that follow are collected as any album's.
    let a = c.handle(Event::Photo {
        user: OWNER,
        photo: photo(1, true),
        album: Some("g".into()),
    });
    assert!(
        a.iter().any(|x| matches!(x, Action::StartTimer { .. })),
        "{a:?}"
    );
}

#[test]
fn every_message_the_conversation_can_send_is_in_every_locale() {
    let source = [
        include_str!("../src/chat/conversation.rs"),
        include_str!("../src/chat/service.rs"),
        include_str!("../src/chat/telegram.rs"),
        include_str!("../src/chat/discord.rs"),
        include_str!("../src/chat/i18n.rs"),
        include_str!("../src/chat/intake.rs"),
    ]
    .concat();
    let keys: std::collections::BTreeSet<&str> = source
        .split('"')
        .filter(|s| {
            (s.starts_with("chat-") || s.starts_with("discord-"))
                && s.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .collect();
    assert!(keys.len() > 20, "{keys:?}");
    for locale in ["en", "cs"] {
        let text = std::fs::read_to_string(format!(
            "{}/locales/{locale}.ftl",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        for key in &keys {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} ="))),
                "{key} missing in {locale}.ftl"
            );
        }
    }
}

#[test]
fn after_a_restart_the_interrupted_work_starts_again() {
    // Reviewing waits for the user: nothing to redo.
    let (mut c, _) = reviewing();
    assert!(c.resume().is_empty());
    c.handle(Event::Button {
        user: OWNER,
        data: "render".into(),
    });
    // Rendering: the same render again, from the stored state alone.
    let stored: Conversation = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    match &stored.resume()[..] {
        [Action::Render { faces, .. }] => assert_eq!(faces, &vec![1, 2, 4]),
        other => panic!("{other:?}"),
    }

    let mut c = Conversation::default();
    c.handle(Event::Command {
        user: OWNER,
        command: Command::Timelapse(Some("Ada Lovelace".into())),
    });
    assert_eq!(
        c.resume(),
        vec![Action::Crawl {
            name: "Ada Lovelace".into()
        }]
    );

    let mut c = Conversation::default();
    c.handle(Event::Photo {
        user: OWNER,
        photo: photo(0, true),
        album: Some("a".into()),
    });
    assert_eq!(
        c.resume(),
        vec![Action::StartTimer {
            album: "a".into(),
            after_ms: 0
        }]
    );
}

#[test]
fn a_cancelled_job_answers_into_nothing() {
    let (mut c, _) = reviewing();
    c.handle(Event::Button {
        user: OWNER,
        data: "render".into(),
    });
    let a = c.handle(Event::Command {
        user: OWNER,
        command: Command::Cancel,
    });
    assert_eq!(a[0], Action::CancelJob);
    assert!(c
        .handle(Event::Rendered {
            video: "v".into(),
            mp4: true,
            shrunk: None
        })
        .is_empty());
    assert_eq!(c.state, State::Idle);
}

#[test]
fn a_full_queue_is_said_and_the_review_stays() {
    let (mut c, _) = reviewing();
    c.handle(Event::Button {
        user: OWNER,
        data: "render".into(),
    });
    let a = c.handle(Event::RenderRefused { waiting: 20 });
    assert_eq!(keys(&a), ["chat-queue-full"]);
    assert!(matches!(c.state, State::Reviewing { .. }));
}

#[test]
fn settings_stored_before_the_renderer_was_typed_read_back() {
    let stored =
        r#"{"renderer":"stylegan","size":1024,"frames_between":12,"gamma":0.5,"mp4":true}"#;
    let settings: ChatSettings = serde_json::from_str(stored).unwrap();
    assert_eq!(settings.renderer, RendererKind::Stylegan);
    // Written as before, with the choices added since.
    let written = serde_json::to_value(&settings).unwrap();
    let before: serde_json::Value = serde_json::from_str(stored).unwrap();
    for (key, value) in before.as_object().unwrap() {
        assert_eq!(&written[key], value, "{key}");
    }
}

#[test]
fn faces_stored_as_flagged_read_back_as_left_out() {
    let stored = r#"{"number":3,"age":12.5,"flagged":true,"removed":true}"#;
    let face: FaceSummary = serde_json::from_str(stored).unwrap();
    assert_eq!(
        face,
        FaceSummary {
            removed: true,
            ..self::face(3, 12.5, true)
        }
    );
}

#[test]
fn settings_stored_before_the_background_choice_still_load() {
    let stored = r#"{"renderer":"pixel","size":256,"frames_between":6,"gamma":0.5,"mp4":false}"#;
    let settings: lifelapse::chat::conversation::ChatSettings =
        serde_json::from_str(stored).expect("old settings");
    assert_eq!(settings.background, Background::default());
    assert_eq!(settings.renderer, RendererKind::Pixel);
}

#[test]
fn the_settings_fit_a_discord_message_and_mark_the_background() {
    let (mut c, _) = reviewing();
    let shown = c.handle(Event::Button {
        user: OWNER,
        data: "set:show".into(),
    });
    let Some(Action::Ask { key, buttons, .. }) = shown.first() else {
        panic!("{shown:?}")
    };
    assert_eq!(key, "chat-settings");
    assert!(buttons.len() <= 5, "{} rows", buttons.len());
    assert!(buttons.iter().all(|row| row.len() <= 5));
    let backgrounds: Vec<_> = buttons
        .iter()
        .flatten()
        .filter(|b| b.data.starts_with("set:background="))
        .collect();
    assert_eq!(backgrounds.len(), 3);
    let current: Vec<_> = backgrounds
        .iter()
        .filter(|b| b.key == "chat-setting-current")
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].data, "set:background=blur");
}

#[test]
fn the_chat_chooses_the_generator_family_of_the_stylegan_renderer() {
    let (mut c, _) = reviewing();
    c.handle(Event::Button {
        user: OWNER,
        data: "set:renderer=stylegan3".into(),
    });
    assert_eq!(c.settings.renderer, RendererKind::Stylegan);
    assert_eq!(c.settings.generator, GeneratorChoice::Stylegan3);
    let overrides = c.settings.render_overrides();
    assert_eq!(overrides.generator, Some(GeneratorChoice::Stylegan3));
    let shown = c.handle(Event::Button {
        user: OWNER,
        data: "set:show".into(),
    });
    let Some(Action::Ask { buttons, .. }) = shown.first() else {
        panic!("{shown:?}")
    };
    let renderers: Vec<_> = buttons[0].iter().map(|b| b.data.as_str()).collect();
    assert_eq!(
        renderers,
        [
            "set:renderer=pixel",
            "set:renderer=morph",
            "set:renderer=stylegan2",
            "set:renderer=stylegan3"
        ]
    );
    let current: Vec<_> = buttons[0]
        .iter()
        .filter(|b| b.key == "chat-setting-current")
        .map(|b| b.data.as_str())
        .collect();
    assert_eq!(current, ["set:renderer=stylegan3"]);
    // Back to a renderer without a generator: the family stays for the next stylegan render.
    c.handle(Event::Button {
        user: OWNER,
        data: "set:renderer=morph".into(),
    });
    assert_eq!(c.settings.renderer, RendererKind::Morph);
    assert_eq!(c.settings.generator, GeneratorChoice::Stylegan3);
}
