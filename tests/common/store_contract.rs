//! What every session store promises, checked the same way on each (sled, NATS).

use lifelapse::store::{SessionKey, SessionStore, Versioned};
use std::fmt::Debug;

pub fn key(chat: i64, user: i64) -> SessionKey {
    SessionKey {
        platform: "telegram".into(),
        chat,
        user,
    }
}

/// Forgetting a session deletes it and the files only it held; files another session holds
/// stay; saving the value keeps the session's files; a hash is never a path.
pub fn forget_deletes_files_only_this_session_holds<V: Versioned + PartialEq + Debug>(
    store: &dyn SessionStore<V>,
    value: &V,
) {
    let shared = store.put_file(&key(1, 7), b"shared").unwrap();
    let own = store.put_file(&key(1, 7), b"own").unwrap();
    assert_eq!(store.put_file(&key(2, 9), b"shared").unwrap(), shared);
    store.save(&key(1, 7), value).unwrap();
    assert_eq!(store.get_file(&own).unwrap().as_deref(), Some(&b"own"[..]));

    store.forget(&key(1, 7)).unwrap();
    assert_eq!(store.load(&key(1, 7)).unwrap(), None);
    assert_eq!(store.get_file(&own).unwrap(), None);
    assert_eq!(
        store.get_file(&shared).unwrap().as_deref(),
        Some(&b"shared"[..])
    );
    for not_a_hash in ["../sessions.sled", "../lifelapse_files", ""] {
        assert_eq!(store.get_file(not_a_hash).unwrap(), None);
    }
}

/// The retention sweep forgets sessions unchanged for the time given, with their files.
pub fn the_retention_sweep_forgets_old_sessions<V: Versioned + PartialEq + Debug>(
    store: &dyn SessionStore<V>,
    value: &V,
) {
    store.save(&key(1, 7), value).unwrap();
    let photo = store.put_file(&key(1, 7), b"x").unwrap();
    assert_eq!(store.sweep(3600).unwrap(), 0, "fresh sessions stay");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(store.sweep(0).unwrap(), 1);
    assert!(store.sessions().unwrap().is_empty());
    assert_eq!(store.get_file(&photo).unwrap(), None);
}
