//! The session store on a real sled database in a temporary directory.

use lifelapse::chat::conversation::{Command, Conversation, Event, PhotoRef};
use lifelapse::store::{SessionKey, SessionStore, SledStore, StoreError};

fn key(chat: i64, user: i64) -> SessionKey {
    SessionKey {
        platform: "telegram".into(),
        chat,
        user,
    }
}

fn collecting() -> Conversation {
    let mut c = Conversation::default();
    c.handle(Event::Command {
        user: 7,
        command: Command::Timelapse(None),
    });
    c.handle(Event::Photo {
        user: 7,
        photo: PhotoRef {
            file_id: "abc".into(),
            as_file: true,
            age: None,
        },
        album: None,
    });
    c
}

#[test]
fn sessions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = collecting();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.save(&key(1, 7), &c).unwrap();
        store.put_file(&key(1, 7), b"photo bytes").unwrap();
    }
    // A new process on the same data dir.
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.load(&key(1, 7)).unwrap(), Some(c));
    assert_eq!(store.load(&key(1, 8)).unwrap(), None);
    assert_eq!(store.sessions().unwrap(), vec![key(1, 7)]);
}

#[test]
fn forget_deletes_photos_only_this_session_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let shared = store.put_file(&key(1, 7), b"shared").unwrap();
    let own = store.put_file(&key(1, 7), b"own").unwrap();
    assert_eq!(store.put_file(&key(2, 9), b"shared").unwrap(), shared);
    store.save(&key(1, 7), &collecting()).unwrap();
    // Saving the conversation keeps the session's photos.
    assert_eq!(store.get_file(&own).unwrap().as_deref(), Some(&b"own"[..]));

    store.forget(&key(1, 7)).unwrap();
    assert_eq!(store.load(&key(1, 7)).unwrap(), None);
    assert_eq!(store.get_file(&own).unwrap(), None);
    assert_eq!(
        store.get_file(&shared).unwrap().as_deref(),
        Some(&b"shared"[..])
    );
    // A hash is never a path.
    assert_eq!(store.get_file("../sessions.sled").unwrap(), None);
}

#[test]
fn the_retention_sweep_forgets_old_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store.save(&key(1, 7), &collecting()).unwrap();
    let photo = store.put_file(&key(1, 7), b"x").unwrap();
    assert_eq!(store.sweep(3600).unwrap(), 0, "fresh sessions stay");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(store.sweep(0).unwrap(), 1);
    assert!(store.sessions().unwrap().is_empty());
    assert_eq!(store.get_file(&photo).unwrap(), None);
}

#[test]
fn a_value_from_a_newer_program_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path().join("sessions.sled")).unwrap();
        let tree = db.open_tree("sessions").unwrap();
        tree.insert("telegram/1/7", br#"{"version": 99, "updated": 0}"#.to_vec())
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::<Conversation>::open(dir.path()).unwrap();
    assert!(matches!(
        store.load(&key(1, 7)),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}
