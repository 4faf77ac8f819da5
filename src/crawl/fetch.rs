//! The only code that fetches a URL from the internet. It refuses what could reach inside the
//! machine's network (server-side request forgery): only http and https; every host is resolved
//! here and refused when any of its addresses is loopback, private, link-local, shared, multicast
//! or otherwise not public, and that check is repeated for every redirect (at most 3), which are
//! followed by hand. Bodies are capped in size and time; concurrency is bounded overall and per
//! host; 429 and 5xx answers are retried with back-off (Retry-After honoured up to 30 s).
//! Answers may come gzip-compressed; the size cap applies to the bytes after decompression.
//!
//! `allow_hosts` (host:port) lifts the address check for named hosts: that is how tests point
//! the providers at fake servers on 127.0.0.1.

use std::collections::HashMap;
use std::error::Error as _;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
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
        }
    }
}

/// The User-Agent in the form Wikimedia's policy asks for: the client and its version, how
/// its operators can be reached, and the HTTP library.
pub fn user_agent(contact: &str) -> String {
    let client = format!("lifelapse/{}", env!("CARGO_PKG_VERSION"));
    match contact.trim() {
        "" => format!("{client} ureq/2"),
        contact => format!("{client} ({contact}) ureq/2"),
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

/// Resolves hosts for ureq and refuses non-public addresses, so the check applies to the
/// address actually connected to (no second lookup an attacker could answer differently).
struct GuardedResolver {
    allow_hosts: Vec<String>,
}

impl ureq::Resolver for GuardedResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        if self
            .allow_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(netloc))
        {
            return Ok(addrs);
        }
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("non-public address {}", bad.ip()),
            ));
        }
        Ok(addrs)
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
}

/// The guarded HTTP client, shared by every provider.
pub struct Fetcher {
    agent: ureq::Agent,
    options: FetchOptions,
    overall: Arc<Slots>,
    per_host: Mutex<HashMap<String, Arc<Slots>>>,
}

fn host_port(url: &url::Url) -> Option<String> {
    Some(format!(
        "{}:{}",
        url.host_str()?,
        url.port_or_known_default()?
    ))
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Self {
        let agent = ureq::AgentBuilder::new()
            .resolver(GuardedResolver {
                allow_hosts: options.allow_hosts.clone(),
            })
            .redirects(0)
            .timeout(options.timeout)
            .user_agent(&options.user_agent)
            .build();
        Self {
            agent,
            overall: Slots::new(options.max_concurrent),
            per_host: Mutex::new(HashMap::new()),
            options,
        }
    }

    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// Checks a URL before it is requested: scheme, and a literal address host.
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
            // Resolve here too, for a clear error (the resolver refuses again at connect).
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

    fn host_slots(&self, host: &str) -> Arc<Slots> {
        let mut map = self.per_host.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| Slots::new(self.options.max_per_host))
            .clone()
    }

    /// GETs `url`, following up to 3 redirects (each checked), with the size and time caps.
    pub fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        self.get_with(url, &[])
    }

    /// [`Fetcher::get`] with request `headers` (an API key, say), sent only to the first
    /// URL's host: a redirect elsewhere never carries them.
    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Result<Fetched, FetchError> {
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
            let response = {
                let _all = self.overall.acquire();
                let _host = self.host_slots(&host).acquire();
                self.request_with_retries(current.as_str(), own_headers)?
            };
            if (300..400).contains(&response.status()) {
                let location = response
                    .header("location")
                    .ok_or_else(|| FetchError::Status {
                        url: current.to_string(),
                        status: response.status(),
                    })?;
                let next = current
                    .join(location)
                    .map_err(|_| FetchError::BadUrl(location.to_string()))?;
                current = self.check(next.as_str())?;
                continue;
            }
            let content_type = response.content_type().to_string();
            let limit = self.options.max_bytes;
            if let Some(len) = response
                .header("content-length")
                .and_then(|l| l.parse::<u64>().ok())
            {
                if len > limit {
                    return Err(FetchError::TooLarge {
                        url: current.to_string(),
                        limit,
                    });
                }
            }
            let mut bytes = Vec::new();
            response
                .into_reader()
                .take(limit + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| self.network_error(current.as_str(), &e.to_string(), start))?;
            if bytes.len() as u64 > limit {
                return Err(FetchError::TooLarge {
                    url: current.to_string(),
                    limit,
                });
            }
            return Ok(Fetched {
                url: current.to_string(),
                content_type,
                bytes,
                elapsed: start.elapsed(),
            });
        }
        Err(FetchError::TooManyRedirects(url.to_string()))
    }

    fn network_error(&self, url: &str, message: &str, start: Instant) -> FetchError {
        let lower = message.to_ascii_lowercase();
        if lower.contains("timed out")
            || lower.contains("timeout")
            || start.elapsed() >= self.options.timeout
        {
            FetchError::Timeout {
                url: url.to_string(),
                seconds: self.options.timeout.as_secs(),
            }
        } else if lower.contains("non-public address") {
            FetchError::Private {
                url: url.to_string(),
                host: url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default(),
                addr: message.to_string(),
            }
        } else {
            FetchError::Network {
                url: url.to_string(),
                message: message.to_string(),
            }
        }
    }

    fn request_with_retries(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<ureq::Response, FetchError> {
        let mut attempt = 0;
        loop {
            let start = Instant::now();
            let request = headers
                .iter()
                .fold(self.agent.get(url), |r, (name, value)| r.set(name, value));
            match request.call() {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(code, r)) if (300..400).contains(&code) => return Ok(r),
                Err(ureq::Error::Status(code, r))
                    if (code == 429 || code >= 500) && attempt < self.options.retries =>
                {
                    attempt += 1;
                    // Honour Retry-After (seconds or an HTTP date); when it asks for longer
                    // than a crawl can wait, stop rather than ask again sooner.
                    let asked = r
                        .header("retry-after")
                        .and_then(|v| retry_after(v, chrono::Utc::now()));
                    let wait = match asked {
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
                }
                Err(ureq::Error::Status(status, _)) => {
                    return Err(FetchError::Status {
                        url: url.to_string(),
                        status,
                    })
                }
                Err(ureq::Error::Transport(t)) => {
                    let message = match t.source() {
                        Some(source) => format!("{t}: {source}"),
                        None => t.to_string(),
                    };
                    return Err(self.network_error(url, &message, start));
                }
            }
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
        let fetched = self.get_with(url, headers)?;
        serde_json::from_slice(&fetched.bytes).map_err(|e| FetchError::Network {
            url: url.to_string(),
            message: format!("not JSON: {e}"),
        })
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
