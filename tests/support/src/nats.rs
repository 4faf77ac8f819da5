//! A real `nats-server` with JetStream on 127.0.0.1, in a temporary store, for the tests and
//! the benchmark of the cluster mode; stopped (and its store deleted) when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
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
    pub fn start() -> Result<Self, String> {
        let binary = binary().ok_or(
            "nats-server is not installed; `tools/setup.sh --test` installs it (Debian package nats-server)",
        )?;
        let store = tempfile::tempdir().map_err(|e| format!("temporary store: {e}"))?;
        let port = crate::http::free_port().map_err(|e| format!("a free port: {e}"))?;
        let child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut server = Self {
            child,
            port,
            _store: store,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("nats-server exited at start: {status}"));
            }
            if Instant::now() > deadline {
                return Err("nats-server did not open its port in 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
