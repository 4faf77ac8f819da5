//! The session store on a real sled database in a temporary directory.

mod common;

use common::store_contract::{self, key};
use lifelapse::chat::conversation::{Command, Conversation, Event, PhotoRef};
use lifelapse::store::{SessionStore, SledStore, StoreError};

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
    store_contract::forget_deletes_files_only_this_session_holds(&store, &collecting());
}

#[test]
fn the_retention_sweep_forgets_old_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    store_contract::the_retention_sweep_forgets_old_sessions(&store, &collecting());
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
