//! A real `nats-server` with JetStream on 127.0.0.1, in a temporary store, for the tests and
//! the benchmark of the cluster mode; stopped (and its store deleted) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Child,
    port: u16,
    _store: tempfile::TempDir,
}

/// Where the Debian package puts the server (/usr/sbin is not on every user's PATH).
fn binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"));
    on_path
        .chain([PathBuf::from("/usr/sbin/nats-server")])
        .find(|p| p.is_file())
}

impl NatsServer {
    /// Starts a server and waits until it takes connections.
    ///
    /// The server picks its own port and writes it to a ports file once it listens. Choosing a
    /// free port here and probing it with a connection raced: two servers started at once could
    /// be given the same port (the one that lost exited, and the probe found the other), and a
    /// probe of a port nobody listens on yet can connect to itself.
    pub fn start() -> Result<Self, String> {
        let binary = binary().ok_or(
            "nats-server is not installed; `tools/setup.sh --test` installs it (Debian package nats-server)",
        )?;
        let store = tempfile::tempdir().map_err(|e| format!("temporary store: {e}"))?;
        let mut child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(store.path())
            .arg("-sd")
            .arg(store.path().join("jetstream"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let ports_file = store
            .path()
            .join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(port) = listening_port(&ports_file) {
                break port;
            }
            let failed = match child.try_wait() {
                Ok(Some(status)) => Some(format!("nats-server exited at start: {status}")),
                Ok(None) if Instant::now() > deadline => {
                    Some("nats-server did not open its port in 20 s".into())
                }
                Ok(None) => None,
                Err(e) => Some(format!("waiting for nats-server: {e}")),
            };
            if let Some(message) = failed {
                let _ = child.kill();
                let _ = child.wait();
                return Err(message);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(Self {
            child,
            port,
            _store: store,
        })
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// The client port in a ports file (`{"nats":["nats://127.0.0.1:PORT"]}`), once it is whole.
fn listening_port(ports_file: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(ports_file).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = ports["nats"].get(0)?.as_str()?;
    url.rsplit(':').next()?.parse().ok()
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
