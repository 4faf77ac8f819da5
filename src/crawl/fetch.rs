//! The only code that fetches a URL from the internet, on reqwest (the HTTP client the bots
//! already link). It refuses what could reach inside the machine's network (server-side request
//! forgery): only http and https; every host name is resolved by [`GuardedResolver`], which
//! refuses a name when any of its addresses is loopback, private, link-local, shared, multicast
//! or otherwise not public, so the check applies to the very addresses connected to; literal
//! addresses are checked before the request. Redirects are never followed by the client: each
//! hop (at most 3) goes through the same checks here, and request headers go only to the first
//! URL's host. Bodies are capped in size and the whole request in time; concurrency is bounded
//! overall and per host, and [`HostPolicy`] narrows a host further (Wikimedia's published
//! limits for its media server). 429 and 5xx answers are retried with back-off (Retry-After
//! honoured up to 30 s). Answers may come gzip-compressed; the size cap applies to the bytes
//! after decompression.
//!
//! `allow_hosts` (host:port) lifts the address check for named hosts: that is how tests point
//! the providers at fake servers on 127.0.0.1.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FetchError {
    #[error("{0}: only http and https URLs are fetched")]
    Scheme(String),
    #[error("{0}: not a valid URL")]
    BadUrl(String),
    #[error("{url}: {host} is not a public address ({addr})")]
    Private {
        url: String,
        host: String,
        addr: String,
    },
    #[error("{0}: more than 3 redirects")]
    TooManyRedirects(String),
    #[error("{url}: larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: timed out after {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{url}: the server asks to wait {seconds} s before asking again")]
    RateLimited { url: String, seconds: u64 },
    #[error("{0}: not an image")]
    NotAnImage(String),
}

/// Limits of the fetcher.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Hosts (host:port) exempt from the public-address check.
    pub allow_hosts: Vec<String>,
    pub max_bytes: u64,
    /// Whole-request time limit (connect, headers and body).
    pub timeout: Duration,
    pub max_concurrent: usize,
    pub max_per_host: usize,
    /// Retries after 429 or 5xx answers.
    pub retries: u32,
    pub user_agent: String,
    /// Narrower limits for named hosts.
    pub host_policies: Vec<HostPolicy>,
}

/// What one host allows a client: requests at a time, and bytes over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPolicy {
    /// host:port.
    pub host: String,
    pub concurrency: usize,
    pub rate: Option<ByteRate>,
}

/// A download-speed limit measured over a window: at most `bytes_per_s × window` bytes in any
/// window, so short bursts within it go at full speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteRate {
    pub bytes_per_s: u64,
    pub window: Duration,
}

impl HostPolicy {
    /// Wikimedia's robot policy for its media server (upload.wikimedia.org): at most 2 requests
    /// at a time and 25 Mbit/s measured over 10 s.
    pub fn wikimedia_media() -> Self {
        Self {
            host: "upload.wikimedia.org:443".into(),
            concurrency: 2,
            rate: Some(ByteRate {
                bytes_per_s: 25_000_000 / 8,
                window: Duration::from_secs(10),
            }),
        }
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            allow_hosts: Vec::new(),
            max_bytes: 15 << 20,
            timeout: Duration::from_secs(20),
            max_concurrent: 8,
            max_per_host: 2,
            retries: 2,
            user_agent: user_agent(""),
            host_policies: vec![HostPolicy::wikimedia_media()],
        }
    }
}

/// The User-Agent in the form Wikimedia's policy asks for: the client and its version, how
/// its operators can be reached, and the HTTP library.
pub fn user_agent(contact: &str) -> String {
    let client = format!("lifelapse/{}", env!("CARGO_PKG_VERSION"));
    match contact.trim() {
        "" => format!("{client} reqwest/0.12"),
        contact => format!("{client} ({contact}) reqwest/0.12"),
    }
}

/// The longest a request waits for a server that answered 429 or 5xx with a Retry-After.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// How long a `Retry-After` value asks to wait from `now`: delay-seconds or an HTTP date
/// (RFC 9110 §10.2.3). A date in the past asks for no wait.
pub fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait a response's Retry-After asks for, if it names one.
fn asked_wait(response: &reqwest::blocking::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    retry_after(value.to_str().ok()?, chrono::Utc::now())
}

/// Whether an address is one the public internet can route to.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                // IETF protocol assignments and benchmarking.
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                // Reserved, 240.0.0.0/4.
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // NAT64 and 6to4 embed IPv4 addresses that may be private.
                || s[0] == 0x0064
                || s[0] == 0x2002)
        }
    }
}

/// A counting semaphore (std has none).
struct Slots {
    free: Mutex<usize>,
    cond: Condvar,
}

impl Slots {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(n.max(1)),
            cond: Condvar::new(),
        })
    }

    fn acquire(self: &Arc<Self>) -> SlotGuard {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.cond.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        SlotGuard(self.clone())
    }
}

struct SlotGuard(Arc<Slots>);

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.cond.notify_one();
    }
}

/// Spaces downloads from one host so that no window carries more than its [`ByteRate`]: a
/// leaky bucket that drains at the rate and holds one window's worth. A request starts once
/// the bucket has drained to below a full window; its bytes are added when they have come.
struct Pacer {
    rate: ByteRate,
    state: Mutex<(f64, Instant)>,
}

impl Pacer {
    fn new(rate: ByteRate) -> Self {
        Self {
            rate,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    fn capacity(&self) -> f64 {
        self.rate.bytes_per_s as f64 * self.rate.window.as_secs_f64()
    }

    /// The bucket's level now.
    fn level(&self, state: &mut (f64, Instant)) -> f64 {
        let now = Instant::now();
        let drained = now.duration_since(state.1).as_secs_f64() * self.rate.bytes_per_s as f64;
        *state = ((state.0 - drained).max(0.0), now);
        state.0
    }

    /// How long to wait before the next request may start.
    fn wait(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let over = self.level(&mut state) - self.capacity();
        if over <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(over / self.rate.bytes_per_s.max(1) as f64)
    }

    fn add(&self, bytes: usize) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.level(&mut state);
        state.0 += bytes as f64;
    }
}

/// What the fetcher keeps per host: its request slots and, under a policy, its pacer.
struct HostGate {
    slots: Arc<Slots>,
    pacer: Option<Pacer>,
}

/// Why the resolver refused a name; found again in the error's source chain.
#[derive(Debug)]
struct NotPublic(IpAddr);

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "non-public address {}", self.0)
    }
}

impl std::error::Error for NotPublic {}

/// Resolves host names for reqwest and refuses any name with a non-public address, so the check
/// applies to the addresses actually connected to (no second lookup an attacker could answer
/// differently). Literal addresses never reach a resolver; [`Fetcher::check`] covers them.
struct GuardedResolver {
    /// Host names (without port) exempt from the check.
    allow_names: Vec<String>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let allowed = self
            .allow_names
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        Box::pin(async move {
            // The port is the connector's; 0 here.
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed {
                if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                    return Err(Box::new(NotPublic(bad.ip())) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A fetched body and the final URL it came from.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub url: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Wall time of the request(s), for the benchmark.
    pub elapsed: Duration,
    /// How long the server asked clients to wait before asking again, when it said.
    pub retry_after: Option<Duration>,
}

impl Fetched {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, FetchError> {
        serde_json::from_slice(&self.bytes).map_err(|e| FetchError::Network {
            url: self.url.clone(),
            message: format!("not JSON: {e}"),
        })
    }
}

/// The guarded HTTP client, shared by every provider.
pub struct Fetcher {
    client: reqwest::blocking::Client,
    options: FetchOptions,
    overall: Arc<Slots>,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
    /// Total time requests waited for a host's pacer.
    paced: Mutex<Duration>,
}

fn host_port(url: &url::Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

/// The host of a host:port (an IPv6 literal keeps its brackets off).
fn host_of(host_port: &str) -> &str {
    let host = host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Self {
        let resolver = GuardedResolver {
            allow_names: options
                .allow_hosts
                .iter()
                .map(|h| host_of(h).to_string())
                .collect(),
        };
        // Building fails only when the TLS backend cannot start; then every request fails
        // with the reason (see `request`), rather than the process.
        let client = reqwest::blocking::Client::builder()
            .dns_resolver(Arc::new(resolver))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf, past the address check.
            .no_proxy()
            .connect_timeout(options.timeout)
            .timeout(options.timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .unwrap_or_else(|e| {
                tracing::error!("the HTTP client could not start: {e}");
                reqwest::blocking::Client::new()
            });
        Self {
            client,
            overall: Slots::new(options.max_concurrent),
            hosts: Mutex::new(HashMap::new()),
            paced: Mutex::new(Duration::ZERO),
            options,
        }
    }

    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// How long requests have waited for hosts' download-speed limits so far.
    pub fn paced(&self) -> Duration {
        *self.paced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a URL before it is requested: scheme, and a host whose addresses are public.
    fn check(&self, raw: &str) -> Result<url::Url, FetchError> {
        let url = url::Url::parse(raw).map_err(|_| FetchError::BadUrl(raw.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme(raw.to_string()));
        }
        let host = host_port(&url).ok_or_else(|| FetchError::BadUrl(raw.to_string()))?;
        let allowed = self
            .options
            .allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        if !allowed {
            // Literal addresses are only checked here (no resolver sees them); names are
            // checked here for a clear error and again by the resolver at connect.
            if let Ok(addrs) = host.to_socket_addrs() {
                if let Some(bad) = addrs.into_iter().find(|a| !is_public(a.ip())) {
                    return Err(FetchError::Private {
                        url: raw.to_string(),
                        host,
                        addr: bad.ip().to_string(),
                    });
                }
            }
        }
        Ok(url)
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let mut map = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| {
                let policy = self
                    .options
                    .host_policies
                    .iter()
                    .find(|p| p.host.eq_ignore_ascii_case(host));
                let concurrency = policy.map_or(self.options.max_per_host, |p| {
                    p.concurrency.min(self.options.max_per_host)
                });
                Arc::new(HostGate {
                    slots: Slots::new(concurrency),
                    pacer: policy.and_then(|p| p.rate).map(Pacer::new),
                })
            })
            .clone()
    }

    /// GETs `url`, following up to 3 redirects (each checked), with the size and time caps.
    pub fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        self.get_with(url, &[])
    }

    /// [`Fetcher::get`] with request `headers` (an API key, say), sent only to the first
    /// URL's host: a redirect elsewhere never carries them.
    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Result<Fetched, FetchError> {
        let deadline = Instant::now() + self.options.timeout;
        let start = Instant::now();
        let mut current = self.check(url)?;
        let first_host = host_port(&current);
        for _ in 0..=3 {
            let host = host_port(&current).unwrap_or_default();
            let own_headers = if Some(&host) == first_host.as_ref() {
                headers
            } else {
                &[]
            };
            let gate = self.gate(&host);
            // The host's slot and its pace first: a request waiting for its host holds no
            // overall slot.
            let _host = gate.slots.acquire();
            if let Some(pacer) = &gate.pacer {
                let wait = pacer.wait();
                if !wait.is_zero() {
                    *self.paced.lock().unwrap_or_else(|e| e.into_inner()) += wait;
                    std::thread::sleep(wait);
                }
            }
            let _all = self.overall.acquire();
            let response = self.request_with_retries(&current, own_headers, deadline)?;
            let status = response.status().as_u16();
            if (300..400).contains(&status) {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| FetchError::Status {
                        url: current.to_string(),
                        status,
                    })?;
                let next = current
                    .join(location)
                    .map_err(|_| FetchError::BadUrl(location.to_string()))?;
                current = self.check(next.as_str())?;
                continue;
            }
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let retry_after = asked_wait(&response);
            let bytes = self.read_body(&current, response, deadline)?;
            if let Some(pacer) = &gate.pacer {
                pacer.add(bytes.len());
            }
            return Ok(Fetched {
                url: current.to_string(),
                content_type,
                bytes,
                elapsed: start.elapsed(),
                retry_after,
            });
        }
        Err(FetchError::TooManyRedirects(url.to_string()))
    }

    /// Reads a body up to the size cap (after decompression) and the request's deadline.
    fn read_body(
        &self,
        url: &url::Url,
        mut response: reqwest::blocking::Response,
        deadline: Instant,
    ) -> Result<Vec<u8>, FetchError> {
        let limit = self.options.max_bytes;
        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit,
        };
        // Compressed answers carry no length (it is the compressed one); others are refused
        // early when they announce too much.
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            // Each read waits at most the client's timeout; the deadline bounds the whole.
            if Instant::now() >= deadline {
                return Err(self.timeout(url.as_str()));
            }
            let n = response
                .read(&mut chunk)
                .map_err(|e| self.io_error(url.as_str(), &e))?;
            if n == 0 {
                return Ok(bytes);
            }
            if (bytes.len() + n) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk[..n]);
        }
    }

    fn timeout(&self, url: &str) -> FetchError {
        FetchError::Timeout {
            url: url.to_string(),
            seconds: self.options.timeout.as_secs(),
        }
    }

    /// A failure while reading a body: a timeout, or the connection's error.
    fn io_error(&self, url: &str, e: &std::io::Error) -> FetchError {
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout);
        if timed_out {
            return self.timeout(url);
        }
        FetchError::Network {
            url: url.to_string(),
            message: e.to_string(),
        }
    }

    /// A failed request as a [`FetchError`]: the resolver's refusal, a timeout, or the
    /// transport's message with its causes.
    fn request_error(&self, url: &url::Url, e: &reqwest::Error) -> FetchError {
        let mut source: Option<&dyn std::error::Error> = Some(e);
        let mut message = Vec::new();
        while let Some(err) = source {
            if let Some(NotPublic(addr)) = err.downcast_ref::<NotPublic>() {
                return FetchError::Private {
                    url: url.to_string(),
                    host: url.host_str().unwrap_or_default().to_string(),
                    addr: addr.to_string(),
                };
            }
            message.push(err.to_string());
            source = err.source();
        }
        // reqwest's own message names the URL that the error names already: "error sending
        // request for url (…)".
        if let (Some(first), Some(own)) = (message.first_mut(), e.url()) {
            *first = first.replace(&format!(" for url ({own})"), "");
        }
        if e.is_timeout() {
            return self.timeout(url.as_str());
        }
        message.dedup();
        FetchError::Network {
            url: url.to_string(),
            message: message.join(": "),
        }
    }

    fn request_with_retries(
        &self,
        url: &url::Url,
        headers: &[(&str, &str)],
        deadline: Instant,
    ) -> Result<reqwest::blocking::Response, FetchError> {
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timeout(url.as_str()));
            }
            let request = headers.iter().fold(
                self.client.get(url.as_str()).timeout(left),
                |r, (name, value)| r.header(*name, *value),
            );
            let response = request.send().map_err(|e| self.request_error(url, &e))?;
            let code = response.status().as_u16();
            if code < 400 {
                return Ok(response);
            }
            if (code == 429 || code >= 500) && attempt < self.options.retries {
                attempt += 1;
                // Honour Retry-After (seconds or an HTTP date); when it asks for longer than
                // a crawl can wait, stop rather than ask again sooner.
                let wait = match asked_wait(&response) {
                    Some(wait) if wait > MAX_RETRY_WAIT => {
                        return Err(FetchError::RateLimited {
                            url: url.to_string(),
                            seconds: wait.as_secs(),
                        })
                    }
                    Some(wait) => wait,
                    None => Duration::from_millis(250 << attempt),
                };
                std::thread::sleep(wait);
                continue;
            }
            return Err(FetchError::Status {
                url: url.to_string(),
                status: code,
            });
        }
    }

    /// GETs JSON.
    pub fn get_json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        self.get_json_with(url, &[])
    }

    /// GETs JSON with request `headers` (see [`Fetcher::get_with`]).
    pub fn get_json_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<serde_json::Value, FetchError> {
        self.get_with(url, headers)?.json()
    }

    /// GETs an image: the bytes must be a photo format lifelapse reads by their signature, whatever
    /// the server claims.
    pub fn get_image(&self, url: &str) -> Result<Fetched, FetchError> {
        let fetched = self.get(url)?;
        if crate::album::sniff(&fetched.bytes).is_none() {
            return Err(FetchError::NotAnImage(url.to_string()));
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-04T12:00:00Z")
            .expect("date")
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Fri, 04 Dec 2026 12:01:30 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after("Fri, 04 Dec 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    /// The resolver is what stands between a name and a connection, also when the name
    /// answered differently when it was checked (DNS rebinding).
    #[test]
    fn the_resolver_refuses_names_with_inside_addresses() {
        use reqwest::dns::Resolve;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let resolve = |allow: &[&str], name: &str| {
            let resolver = GuardedResolver {
                allow_names: allow.iter().map(|s| s.to_string()).collect(),
            };
            let name: reqwest::dns::Name = name.parse().expect("name");
            runtime.block_on(resolver.resolve(name))
        };
        let refused = resolve(&[], "localhost").err().expect("refused");
        assert!(refused.downcast_ref::<NotPublic>().is_some(), "{refused}");
        let allowed = resolve(&["localhost"], "localhost").expect("allowed");
        assert!(allowed.into_iter().all(|a| a.ip().is_loopback()));
    }

    #[test]
    fn only_http_urls_are_fetched() {
        let f = Fetcher::new(FetchOptions::default());
        assert!(matches!(
            f.get("file:///etc/passwd"),
            Err(FetchError::Scheme(_))
        ));
        assert!(matches!(
            f.get("ftp://example.com/x"),
            Err(FetchError::Scheme(_))
        ));
        assert!(matches!(f.get("not a url"), Err(FetchError::BadUrl(_))));
        assert!(matches!(
            f.get("http://127.0.0.1:9/x"),
            Err(FetchError::Private { .. })
        ));
        assert!(matches!(
            f.get("http://[::1]:9/x"),
            Err(FetchError::Private { .. })
        ));
    }
}
