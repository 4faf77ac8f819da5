//! Where chat sessions live between events and across restarts. The [`SessionStore`] trait is
//! narrow on purpose (a session by key, photo bytes by hash, forgetting and expiry), so the
//! embedded sled store can be swapped for a server database when one machine is not enough.
//!
//! sled 0.34 is its stable line, but its own README calls it beta: every value is wrapped in
//! a versioned envelope, every change is flushed before it is acknowledged, and photo bytes
//! live as plain content-addressed files in the data directory, not in the database.
//!
//! Beyond one machine, [`nats::NatsStore`] keeps the same envelopes in a JetStream key-value
//! bucket and the files in its object store.

pub mod nats;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session database")]
    Db(#[from] sled::Error),
    #[error("stored value {key} has schema version {found}, newer than this program's {known}")]
    NewerSchema { key: String, found: u32, known: u32 },
    #[error("stored value {key} is damaged: {message}")]
    Damaged { key: String, message: String },
    #[error("session {0} changed again and again while it was being saved")]
    Busy(String),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("file store {path}")]
    Files {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A session: one user in one chat on one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    pub platform: String,
    pub chat: i64,
    pub user: i64,
}

impl SessionKey {
    /// The session's name in the database and in logs (no secrets, no contents).
    pub fn db_key(&self) -> String {
        format!("{}/{}/{}", self.platform, self.chat, self.user)
    }

    /// The key a [`SessionKey::db_key`] names (None for anything else).
    pub fn from_db_key(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(3, '/');
        let (user, chat, platform) = (parts.next()?, parts.next()?, parts.next()?);
        Some(Self {
            platform: platform.to_string(),
            chat: chat.parse().ok()?,
            user: user.parse().ok()?,
        })
    }
}

/// Whether `hash` is what a content hash can be (and so never a path).
fn is_content_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the store keeps for each session: any serde value with a schema version, bumped
/// whenever its stored shape changes (the chat's conversation is one). The store knows nothing
/// else of it.
pub trait Versioned: Serialize + DeserializeOwned + Default + Clone + Send + Sync {
    const SCHEMA_VERSION: u32;
}

/// The envelope every stored session is kept in.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "V: Versioned")]
struct Stored<V> {
    version: u32,
    /// Seconds since the epoch of the last change (for the retention sweep).
    updated: u64,
    /// Named as when the store held only conversations, so what earlier runs wrote reads back.
    #[serde(rename = "conversation")]
    value: V,
    /// Hashes of the files (photos, contact sheets, videos) this session holds; named as when
    /// it held only photos, so what earlier runs wrote reads back.
    #[serde(rename = "photos")]
    files: BTreeSet<String>,
}

impl<V: Versioned> Stored<V> {
    fn new(value: V) -> Self {
        Self {
            version: V::SCHEMA_VERSION,
            updated: now(),
            value,
            files: BTreeSet::new(),
        }
    }

    /// Reads an envelope, refusing one written by a newer program rather than misreading it.
    fn decode(key: &SessionKey, bytes: &[u8]) -> Result<Self, StoreError> {
        let k = key.db_key();
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StoreError::Damaged {
                key: k.clone(),
                message: e.to_string(),
            })?;
        let version = value["version"].as_u64().unwrap_or(0) as u32;
        let known = V::SCHEMA_VERSION;
        if version > known {
            return Err(StoreError::NewerSchema {
                key: k,
                found: version,
                known,
            });
        }
        serde_json::from_value(value).map_err(|e| StoreError::Damaged {
            key: k,
            message: e.to_string(),
        })
    }

    fn encode(&self, key: &SessionKey) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|e| StoreError::Damaged {
            key: key.db_key(),
            message: e.to_string(),
        })
    }
}

/// What the chat service needs from storage: a session's value `V` by key, file bytes (photos,
/// contact sheets, videos) by hash.
pub trait SessionStore<V: Versioned>: Send + Sync {
    fn load(&self, key: &SessionKey) -> Result<Option<V>, StoreError>;
    /// Saves and flushes: once this returns, a crash loses nothing.
    fn save(&self, key: &SessionKey, value: &V) -> Result<(), StoreError>;
    /// Changes the session's value in one step and returns it as saved: `change` edits the
    /// stored value (the default for a new session). When another process changed the session
    /// meanwhile, `change` runs again on the newer value, so no one's change is overwritten.
    fn update(&self, key: &SessionKey, change: &mut dyn FnMut(&mut V)) -> Result<V, StoreError>;
    /// Stores a file's bytes (a photo, a contact sheet, a video) for a session; returns their
    /// content hash.
    fn put_file(&self, key: &SessionKey, bytes: &[u8]) -> Result<String, StoreError>;
    fn get_file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes the session and every file only it held, now.
    fn forget(&self, key: &SessionKey) -> Result<(), StoreError>;
    /// Forgets sessions unchanged for `ttl_seconds`; returns how many.
    fn sweep(&self, ttl_seconds: u64) -> Result<usize, StoreError>;
    fn sessions(&self) -> Result<Vec<SessionKey>, StoreError>;
    /// A platform's position in its update stream (the last update handled), so a restart
    /// neither repeats nor skips one. It only moves forward.
    fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError>;
    fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError>;
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// sled for sessions, files for photos, under one data directory.
pub struct SledStore<V> {
    db: sled::Db,
    sessions: sled::Tree,
    cursors: sled::Tree,
    photo_dir: PathBuf,
    /// Serialises read-modify-write of a session's envelope.
    lock: std::sync::Mutex<()>,
    value: std::marker::PhantomData<fn() -> V>,
}

impl<V: Versioned> SledStore<V> {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db = sled::open(data_dir.join("sessions.sled"))?;
        let sessions = db.open_tree("sessions")?;
        let cursors = db.open_tree("cursors")?;
        let photo_dir = data_dir.join("photos");
        std::fs::create_dir_all(&photo_dir).map_err(|source| StoreError::Files {
            path: photo_dir.clone(),
            source,
        })?;
        Ok(Self {
            db,
            sessions,
            cursors,
            photo_dir,
            lock: std::sync::Mutex::new(()),
            value: std::marker::PhantomData,
        })
    }

    fn read(&self, key: &SessionKey) -> Result<Option<Stored<V>>, StoreError> {
        match self.sessions.get(key.db_key())? {
            Some(bytes) => Stored::decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn write(&self, key: &SessionKey, stored: &Stored<V>) -> Result<(), StoreError> {
        self.sessions.insert(key.db_key(), stored.encode(key)?)?;
        self.db.flush()?;
        Ok(())
    }

    fn file_path(&self, hash: &str) -> Option<PathBuf> {
        is_content_hash(hash).then(|| self.photo_dir.join(hash))
    }

    /// Whether any session other than `except` holds `hash`.
    fn held_elsewhere(&self, hash: &str, except: &SessionKey) -> Result<bool, StoreError> {
        for entry in self.sessions.iter() {
            let (k, v) = entry?;
            if k.as_ref() == except.db_key().as_bytes() {
                continue;
            }
            let stored: Stored<V> = match serde_json::from_slice(&v) {
                Ok(s) => s,
                // A damaged neighbour keeps its photos, to be safe.
                Err(_) => return Ok(true),
            };
            if stored.files.contains(hash) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl<V: Versioned> SessionStore<V> for SledStore<V> {
    fn load(&self, key: &SessionKey) -> Result<Option<V>, StoreError> {
        Ok(self.read(key)?.map(|s| s.value))
    }

    fn save(&self, key: &SessionKey, value: &V) -> Result<(), StoreError> {
        self.update(key, &mut |v| *v = value.clone()).map(|_| ())
    }

    fn update(&self, key: &SessionKey, change: &mut dyn FnMut(&mut V)) -> Result<V, StoreError> {
        // One process: the lock is the revision check.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stored = self.read(key)?.unwrap_or_else(|| Stored::new(V::default()));
        change(&mut stored.value);
        stored.version = V::SCHEMA_VERSION;
        stored.updated = now();
        self.write(key, &stored)?;
        Ok(stored.value)
    }

    fn put_file(&self, key: &SessionKey, bytes: &[u8]) -> Result<String, StoreError> {
        let hash = crate::leaves::hash::content_hash(bytes);
        let path = self.file_path(&hash).ok_or_else(|| StoreError::Files {
            path: self.photo_dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a content hash"),
        })?;
        if !path.is_file() {
            // Written beside, then renamed: a crash never leaves half a photo under its hash.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, bytes)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|source| StoreError::Files {
                    path: path.clone(),
                    source,
                })?;
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stored = self.read(key)?.unwrap_or_else(|| Stored::new(V::default()));
        stored.files.insert(hash.clone());
        stored.updated = now();
        self.write(key, &stored)?;
        Ok(hash)
    }

    fn get_file(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.file_path(hash) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Files { path, source }),
        }
    }

    fn forget(&self, key: &SessionKey) -> Result<(), StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match self.read(key) {
            Ok(Some(stored)) => stored,
            // Nothing to delete beyond the entry itself (a damaged entry is removed too).
            _ => {
                self.sessions.remove(key.db_key())?;
                self.db.flush()?;
                return Ok(());
            }
        };
        for hash in &stored.files {
            if !self.held_elsewhere(hash, key)? {
                if let Some(path) = self.file_path(hash) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        self.sessions.remove(key.db_key())?;
        self.db.flush()?;
        Ok(())
    }

    fn sweep(&self, ttl_seconds: u64) -> Result<usize, StoreError> {
        let cutoff = now().saturating_sub(ttl_seconds);
        let mut expired = Vec::new();
        for key in self.sessions()? {
            if let Some(stored) = self.read(&key)? {
                if stored.updated <= cutoff {
                    expired.push(key);
                }
            }
        }
        for key in &expired {
            self.forget(key)?;
        }
        Ok(expired.len())
    }

    fn cursor(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.cursors.get(name)?.and_then(|v| {
            let bytes: [u8; 8] = v.as_ref().try_into().ok()?;
            Some(i64::from_be_bytes(bytes))
        }))
    }

    fn set_cursor(&self, name: &str, value: i64) -> Result<(), StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.cursor(name)?.is_some_and(|stored| stored >= value) {
            return Ok(());
        }
        self.cursors.insert(name, &value.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    fn sessions(&self) -> Result<Vec<SessionKey>, StoreError> {
        let mut out = Vec::new();
        for entry in self.sessions.iter() {
            let (k, _) = entry?;
            out.extend(SessionKey::from_db_key(&String::from_utf8_lossy(&k)));
        }
        Ok(out)
    }
}
