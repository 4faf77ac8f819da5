//! Sessions and files on a real `nats-server -js` (started here on 127.0.0.1 with a temporary
//! store): what the sled store promises, kept by the NATS store for several processes at once.
//! Needs the `nats-server` binary (`tools/setup.sh --test` installs it).

mod common;

use common::store_contract::{self, key};
use lifelapse::cluster::{Cluster, Options, Role};
use lifelapse::store::nats::NatsStore;
use lifelapse::store::{SessionStore, StoreError, Versioned};
use lifelapse_test_support::nats::NatsServer;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    count: u64,
    by: Vec<u8>,
}

impl Versioned for Tally {
    const SCHEMA_VERSION: u32 = 1;
}

/// One process's connection (a front-end or a worker).
fn connect(server: &NatsServer) -> Arc<Cluster> {
    Cluster::connect(
        Options {
            url: server.url(),
            ack_wait: Duration::from_secs(5),
            max_deliver: 2,
            render_capacity: 3,
        },
        Role::FrontEnd,
    )
    .expect("connect to nats-server")
}

fn server() -> NatsServer {
    NatsServer::start().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn two_processes_changing_one_session_lose_no_change() {
    let server = server();
    let stores: Vec<Arc<NatsStore<Tally>>> = (0..2)
        .map(|_| Arc::new(NatsStore::new(connect(&server))))
        .collect();
    let threads: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, store)| {
            let store = store.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store
                        .update(&key(-100, 7), &mut |t| {
                            t.count += 1;
                            t.by.push(i as u8);
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let tally = stores[0].load(&key(-100, 7)).unwrap().unwrap();
    assert_eq!(tally.count, 50, "every change counted once");
    assert_eq!(tally.by.iter().filter(|&&b| b == 0).count(), 25);
    assert_eq!(tally.by.iter().filter(|&&b| b == 1).count(), 25);
}

#[test]
fn sessions_files_and_cursors_outlive_the_process_that_wrote_them() {
    let server = server();
    let photo = {
        let store = NatsStore::<Tally>::new(connect(&server));
        store
            .save(
                &key(1, 7),
                &Tally {
                    count: 3,
                    by: vec![],
                },
            )
            .unwrap();
        store.set_cursor("telegram", 41).unwrap();
        store.put_file(&key(1, 7), b"photo bytes").unwrap()
    };
    // Another process on the same server.
    let store = NatsStore::<Tally>::new(connect(&server));
    assert_eq!(store.load(&key(1, 7)).unwrap().map(|t| t.count), Some(3));
    assert_eq!(store.load(&key(1, 8)).unwrap(), None);
    assert_eq!(store.sessions().unwrap(), vec![key(1, 7)]);
    assert_eq!(store.cursor("telegram").unwrap(), Some(41));
    // The position only moves forward (front-ends share it).
    store.set_cursor("telegram", 40).unwrap();
    assert_eq!(store.cursor("telegram").unwrap(), Some(41));
    store.set_cursor("telegram", 42).unwrap();
    assert_eq!(store.cursor("telegram").unwrap(), Some(42));
    assert_eq!(store.cursor("discord").unwrap(), None);
    assert_eq!(
        store.get_file(&photo).unwrap().as_deref(),
        Some(&b"photo bytes"[..])
    );
    // Saving the value keeps the session's files.
    store.save(&key(1, 7), &Tally::default()).unwrap();
    store.forget(&key(1, 7)).unwrap();
    assert_eq!(store.get_file(&photo).unwrap(), None, "forgotten with it");
}

#[test]
fn forget_deletes_from_the_bucket_and_the_object_store() {
    let server = server();
    let store = NatsStore::new(connect(&server));
    store_contract::forget_deletes_files_only_this_session_holds(&store, &Tally::default());
    // A forgotten session starts afresh.
    store.update(&key(1, 7), &mut |t| t.count += 1).unwrap();
    assert_eq!(store.load(&key(1, 7)).unwrap().map(|t| t.count), Some(1));
}

#[test]
fn the_retention_sweep_deletes_from_the_bucket_and_the_object_store() {
    let server = server();
    let store = NatsStore::new(connect(&server));
    store_contract::the_retention_sweep_forgets_old_sessions(
        &store,
        &Tally {
            count: 1,
            by: vec![],
        },
    );
}

#[test]
fn a_value_from_a_newer_program_is_refused_not_misread() {
    let server = server();
    let cluster = connect(&server);
    let kv = cluster.sessions.clone();
    cluster
        .call("test", async move {
            kv.put(
                "telegram/1/7",
                br#"{"version": 99, "updated": 0}"#.to_vec().into(),
            )
            .await
        })
        .unwrap()
        .unwrap();
    let store = NatsStore::<Tally>::new(cluster);
    assert!(matches!(
        store.load(&key(1, 7)),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
    assert!(
        store.update(&key(1, 7), &mut |t| t.count += 1).is_err(),
        "not overwritten either"
    );
}
