//! An HTTP server on 127.0.0.1 (tiny_http) whose every request is answered by a closure, after
//! an optional delay (to model latency); requests are counted. Each request is answered on its
//! own thread, so a slow answer never holds up the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A free port on 127.0.0.1: bound, read and released, for a process to bind a moment later.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn json(v: serde_json::Value) -> Self {
        Self::bytes("application/json", v.to_string().into_bytes())
    }
    pub fn bytes(content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            delay: Duration::ZERO,
        }
    }
    pub fn redirect(to: &str) -> Self {
        Self {
            status: 302,
            headers: vec![("Location".into(), to.into())],
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// The request's method, path, decoded query parameters, headers (names lowercased) and body
/// (a chunked body decoded).
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct FakeServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    server: Arc<tiny_http::Server>,
}

impl FakeServer {
    pub fn start(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let server = tiny_http::Server::http("127.0.0.1:0")
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other("no port"))?;
        let server = Arc::new(server);
        let requests = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (incoming, count) = (server.clone(), requests.clone());
        std::thread::spawn(move || {
            // Ends when the server is unblocked (dropped).
            for request in incoming.incoming_requests() {
                let (handler, count) = (handler.clone(), count.clone());
                std::thread::spawn(move || answer(request, &*handler, &count));
            }
        });
        Ok(Self {
            port,
            requests,
            server,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn answer(mut request: tiny_http::Request, handler: &Handler, count: &AtomicUsize) {
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    count.fetch_add(1, Ordering::SeqCst);
    let Ok(url) = url::Url::parse(&format!("http://x{}", request.url())) else {
        return;
    };
    let asked = Request {
        method: request.method().as_str().to_string(),
        path: url.path().to_string(),
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
    };
    let reply = handler(&asked);
    std::thread::sleep(reply.delay);
    let mut response = tiny_http::Response::from_data(reply.body)
        .with_status_code(tiny_http::StatusCode(reply.status));
    for (name, value) in &reply.headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    let _ = request.respond(response);
}
