//! Sessions on a NATS server, for several front-ends and workers: each session's envelope in a
//! JetStream key-value bucket, changed only with the revision it was read at (two processes
//! never overwrite each other's transition), file bytes in the object store under their content
//! hash, platform cursors in a bucket of their own.

use super::{is_content_hash, now, SessionKey, SessionStore, StoreError, Stored, Versioned};
use crate::cluster::{op, Cluster};
use async_nats::jetstream::kv::{CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::object_store::{DeleteErrorKind, GetErrorKind, InfoErrorKind};
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// A change that lost its race this many times in a row is given up (it never happens
/// without a runaway writer).
const MAX_RETRIES: usize = 1000;

/// A stored session: its key and envelope (None when damaged or from a newer program).
type Listed<V> = (SessionKey, Option<Stored<V>>);

pub struct NatsStore<V> {
    cluster: Arc<Cluster>,
    value: std::marker::PhantomData<fn() -> V>,
}

impl<V: Versioned> NatsStore<V> {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self {
            cluster,
            value: std::marker::PhantomData,
        }
    }

    /// The session's envelope and the revision it was read at (None for both: never written,
    /// or deleted).
    fn read(&self, key: &SessionKey) -> Result<(Option<Stored<V>>, Option<u64>), StoreError> {
        let (kv, k) = (self.cluster.sessions.clone(), key.db_key());
        let entry = self
            .cluster
            .call("reading a session", async move { kv.entry(k).await })?
            .map_err(op("reading a session"))?;
        match entry {
            Some(e) if e.operation == Operation::Put => {
                Ok((Some(Stored::decode(key, &e.value)?), Some(e.revision)))
            }
            _ => Ok((None, None)),
        }
    }

    /// Read, change, write back at the revision read; again on a newer revision.
    fn change(
        &self,
        key: &SessionKey,
        change: &mut dyn FnMut(&mut Stored<V>),
    ) -> Result<Stored<V>, StoreError> {
        for _ in 0..MAX_RETRIES {
            let (stored, revision) = self.read(key)?;
            let mut stored = stored.unwrap_or_else(|| Stored::new(V::default()));
            change(&mut stored);
            stored.version = V::SCHEMA_VERSION;
            stored.updated = now();
            let written = self.write_at(
                &self.cluster.sessions,
                "saving a session",
                key.db_key(),
                stored.encode(key)?,
                revision,
            )?;
            if written {
                return Ok(stored);
            }
            tracing::debug!(session = %key.db_key(), "session changed meanwhile; again");
        }
        Err(StoreError::Busy(key.db_key()))
    }

    /// Writes `bytes` under `key` of `kv` if the key is still at `revision` (None: absent or
    /// deleted); false when another process wrote first.
    fn write_at(
        &self,
        kv: &async_nats::jetstream::kv::Store,
        what: &'static str,
        key: String,
        bytes: Vec<u8>,
        revision: Option<u64>,
    ) -> Result<bool, StoreError> {
        let kv = kv.clone();
        match revision {
            Some(revision) => {
                match self.cluster.call(what, async move {
                    kv.update(key, bytes.into(), revision).await
                })? {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                    Err(e) => Err(op(what)(e).into()),
                }
            }
            None => match self
                .cluster
                .call(what, async move { kv.create(key, bytes.into()).await })?
            {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(op(what)(e).into()),
            },
        }
    }

    /// A platform's stored update position (None: never written, deleted or unreadable) and
    /// the revision it was read at (None: never written or deleted).
    fn read_cursor(&self, name: &str) -> Result<(Option<i64>, Option<u64>), StoreError> {
        let (kv, k) = (self.cluster.cursors.clone(), name.to_string());
        let entry = self
            .cluster
            .call("reading a cursor", async move { kv.entry(k).await })?
            .map_err(op("reading a cursor"))?;
        Ok(match entry {
            Some(e) if e.operation == Operation::Put => (
                <[u8; 8]>::try_from(e.value.as_ref())
                    .ok()
                    .map(i64::from_be_bytes),
                Some(e.revision),
            ),
            _ => (None, None),
        })
    }

    /// Every stored session's key and envelope (a damaged one as None).
    fn all(&self) -> Result<Vec<Listed<V>>, StoreError> {
        let kv = self.cluster.sessions.clone();
        let names = self
            .cluster
            .call("listing sessions", async move {
                let mut keys = kv.keys().await?;
                let mut out = Vec::new();
                while let Some(k) = keys.next().await {
                    match k {
                        Ok(k) => out.push(k),
                        Err(e) => tracing::warn!(error = %e, "a session key cannot be listed"),
                    }
                }
                Ok::<_, async_nats::jetstream::kv::HistoryError>(out)
            })?
            .map_err(op("listing sessions"))?;
        let mut out = Vec::new();
        for name in names {
            let Some(key) = SessionKey::from_db_key(&name) else {
                continue;
            };
            match self.read(&key) {
                Ok((Some(stored), _)) => out.push((key, Some(stored))),
                Ok((None, _)) => {}
                Err(StoreError::Damaged { .. } | StoreError::NewerSchema { .. }) => {
                    out.push((key, None))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn delete_file(&self, hash: &str) -> Result<(), StoreError> {
        let (files, name) = (self.cluster.files.clone(), hash.to_string());
        match self
            .cluster
            .call("deleting a file", async move { files.delete(name).await })?
        {
            Err(e) if e.kind() != DeleteErrorKind::NotFound => Err(op("deleting a file")(e).into()),
            _ => Ok(()),
        }
    }
}

impl<V: Versioned> SessionStore<V> for NatsStore<V> {
    fn load(&self, key: &SessionKey) -> Result<Option<V>, StoreError> {
        Ok(self.read(key)?.0.map(|s| s.value))
    }

    fn save(&self, key: &SessionKey, value: &V) -> Result<(), StoreError> {
        self.update(key, &mut |v| *v = value.clone()).map(|_| ())
    }

    fn update(&self, key: &SessionKey, change: &mut dyn FnMut(&mut V)) -> Result<V, StoreError> {
        self.change(key, &mut |stored| change(&mut stored.value))
            .map(|s| s.value)
    }

    fn put_file(&self, key: &SessionKey, bytes: &[u8]) -> Result<String, StoreError> {
        let hash = crate::leaves::hash::content_hash(bytes);
        let (files, name, data) = (self.cluster.files.clone(), hash.clone(), bytes.to_vec());
        self.cluster
            .call("storing a file", async move {
                match files.info(&name).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == InfoErrorKind::NotFound => files
                        .put(name.as_str(), &mut data.as_slice())
                        .await
                        .map(|_| ())
                        .map_err(async_nats::Error::from),
                    Err(e) => Err(async_nats::Error::from(e)),
                }
            })?
            .map_err(op("storing a file"))?;
        self.change(key, &mut |stored| {
            stored.files.insert(hash.clone());
        })?;
        Ok(hash)
    }

    fn get_file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !is_content_hash(hash) {
            return Ok(None);
        }
        let (files, name) = (self.cluster.files.clone(), hash.to_string());
        self.cluster
            .call("reading a file", async move {
                let mut object = match files.get(name).await {
                    Ok(o) => o,
                    Err(e) if e.kind() == GetErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(async_nats::Error::from(e)),
                };
                let mut bytes = Vec::new();
                object.read_to_end(&mut bytes).await?;
                Ok(Some(bytes))
            })?
            .map_err(|e| op("reading a file")(e).into())
    }

    fn forget(&self, key: &SessionKey) -> Result<(), StoreError> {
        let files = match self.read(key) {
            Ok((Some(stored), _)) => stored.files,
            // A damaged entry is removed too.
            _ => Default::default(),
        };
        let (kv, k) = (self.cluster.sessions.clone(), key.db_key());
        self.cluster
            .call("deleting a session", async move { kv.purge(k).await })?
            .map_err(op("deleting a session"))?;
        if files.is_empty() {
            return Ok(());
        }
        let others = self.all()?;
        for hash in &files {
            // A damaged neighbour keeps its files, to be safe.
            let held = others
                .iter()
                .any(|(_, s)| s.as_ref().is_none_or(|s| s.files.contains(hash)));
            if !held {
                self.delete_file(hash)?;
            }
        }
        Ok(())
    }

    fn sweep(&self, ttl_seconds: u64) -> Result<usize, StoreError> {
        let cutoff = now().saturating_sub(ttl_seconds);
        let expired: Vec<SessionKey> = self
            .all()?
            .into_iter()
            .filter_map(|(key, s)| s.filter(|s| s.updated <= cutoff).map(|_| key))
            .collect();
        for key in &expired {
            self.forget(key)?;
        }
        Ok(expired.len())
    }

    fn sessions(&self) -> Result<Vec<SessionKey>, StoreError> {
        Ok(self.all()?.into_iter().map(|(k, _)| k).collect())
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.read_cursor(name)?.0)
    }

    fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError> {
        // Several front-ends share the position: it only moves forward, revision-checked.
        for _ in 0..MAX_RETRIES {
            let (stored, revision) = self.read_cursor(name)?;
            if stored.is_some_and(|stored| stored >= value) {
                return Ok(());
            }
            let written = self.write_at(
                &self.cluster.cursors,
                "saving a cursor",
                name.to_string(),
                value.to_be_bytes().to_vec(),
                revision,
            )?;
            if written {
                return Ok(());
            }
        }
        Err(StoreError::Busy(name.to_string()))
    }
}
