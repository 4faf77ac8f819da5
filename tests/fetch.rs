//! The crawler's guarded HTTP client against servers on 127.0.0.1: what it refuses to reach,
//! its caps on size and time, how it waits for busy servers and how it paces a host with a
//! download-speed limit.

mod common;

use common::fake_http::{FakeServer, Reply, Request};
use lifelapse::crawl::fetch::{ByteRate, FetchError, FetchOptions, Fetcher, HostPolicy};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn serve(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeServer {
    FakeServer::start(handler).expect("fake server")
}

fn fetcher_for(hosts: &[String]) -> Fetcher {
    Fetcher::new(FetchOptions {
        allow_hosts: hosts.to_vec(),
        ..FetchOptions::default()
    })
}

fn png(side: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x * 7 + y * 13) as u8, (x ^ y) as u8, (x * y) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn host_names_that_resolve_inside_the_machine_are_refused_unless_allowed() {
    let server = serve(|_| Reply::bytes("text/plain", b"inside".to_vec()));
    // "localhost" is a name (it goes through the resolver), not a literal address.
    let by_name = format!("http://localhost:{}/secret", server.port);
    let refused = fetcher_for(&[]).get(&by_name);
    assert!(
        matches!(refused, Err(FetchError::Private { .. })),
        "{refused:?}"
    );
    // The allowance is for that host and port only.
    let allowed = fetcher_for(&[format!("localhost:{}", server.port)]);
    assert_eq!(allowed.get(&by_name).expect("allowed").bytes, b"inside");
    let other = serve(|_| Reply::bytes("text/plain", b"other".to_vec()));
    assert!(matches!(
        allowed.get(&format!("http://localhost:{}/", other.port)),
        Err(FetchError::Private { .. })
    ));
    assert_eq!(other.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn every_redirect_hop_is_checked_again() {
    let inside = serve(|_| Reply::bytes("text/plain", b"inside".to_vec()));
    let to = format!("http://127.0.0.1:{}/metadata", inside.port);
    let by_name = format!("http://localhost:{}/metadata", inside.port);
    let outside = serve(move |r: &Request| match r.path.as_str() {
        "/literal" => Reply::redirect(&to),
        _ => Reply::redirect(&by_name),
    });
    let fetcher = fetcher_for(&[outside.host()]);
    for path in ["literal", "name"] {
        let got = fetcher.get(&format!("{}/{path}", outside.url()));
        assert!(matches!(got, Err(FetchError::Private { .. })), "{got:?}");
    }
    assert_eq!(outside.requests.load(Ordering::SeqCst), 2);
    assert_eq!(inside.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn the_size_cap_counts_decompressed_bytes() {
    // 4 MB of zeros compress to a few kilobytes: a small answer that unpacks huge.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 4 << 20]).expect("gzip");
    let bomb = gz.finish().expect("gzip");
    assert!(bomb.len() < 64 << 10);
    let server = serve(move |_| {
        let mut reply = Reply::bytes("application/json", bomb.clone());
        reply
            .headers
            .push(("Content-Encoding".into(), "gzip".into()));
        reply
    });
    let fetcher = Fetcher::new(FetchOptions {
        allow_hosts: vec![server.host()],
        max_bytes: 1 << 20,
        ..FetchOptions::default()
    });
    let got = fetcher.get(&format!("{}/bomb", server.url()));
    assert!(matches!(got, Err(FetchError::TooLarge { .. })), "{got:?}");
}

/// A server that sends its headers at once and then one byte of the body every 200 ms: every
/// single read is quick, only the whole is slow.
fn trickling_server() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
    let handle = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        for _ in 0..100 {
            if stream.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    (host, handle)
}

#[test]
fn a_body_that_trickles_in_hits_the_time_cap_of_the_whole_request() {
    let (host, server) = trickling_server();
    let fetcher = Fetcher::new(FetchOptions {
        allow_hosts: vec![host.clone()],
        timeout: Duration::from_secs(1),
        ..FetchOptions::default()
    });
    let got = fetcher.get(&format!("http://{host}/slow"));
    assert!(matches!(got, Err(FetchError::Timeout { .. })), "{got:?}");
    drop(fetcher);
    server.join().expect("server");
}

#[test]
fn retry_after_is_honoured_and_a_long_one_ends_the_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = serve(move |r: &Request| {
        let mut busy = Reply::status(429);
        match r.path.as_str() {
            "/soon" if seen.fetch_add(1, Ordering::SeqCst) == 0 => {
                busy.headers.push(("Retry-After".into(), "1".into()));
                busy
            }
            "/soon" => Reply::bytes("text/plain", b"done".to_vec()),
            _ => {
                busy.headers.push(("Retry-After".into(), "3600".into()));
                busy
            }
        }
    });
    let fetcher = fetcher_for(&[server.host()]);
    let got = fetcher
        .get(&format!("{}/soon", server.url()))
        .expect("after the wait");
    assert_eq!(got.bytes, b"done");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let before = server.requests.load(Ordering::SeqCst);
    let got = fetcher.get(&format!("{}/later", server.url()));
    assert!(
        matches!(got, Err(FetchError::RateLimited { seconds: 3600, .. })),
        "{got:?}"
    );
    // Asked once, not again sooner than the server said.
    assert_eq!(server.requests.load(Ordering::SeqCst), before + 1);
}

#[test]
fn a_host_with_a_download_speed_limit_is_paced() {
    let photo = png(160);
    let size = photo.len() as u64;
    let server = serve(move |_| Reply::bytes("image/png", photo.clone()));
    // One photo per 100 ms window, at 10 photos a second: the third must wait.
    let rate = ByteRate {
        bytes_per_s: size * 10,
        window: Duration::from_millis(100),
    };
    let policy = HostPolicy {
        host: server.host(),
        concurrency: 1,
        rate: Some(rate),
    };
    let fetcher = Fetcher::new(FetchOptions {
        allow_hosts: vec![server.host()],
        host_policies: vec![policy],
        ..FetchOptions::default()
    });
    for i in 0..4 {
        fetcher
            .get_image(&format!("{}/{i}.png", server.url()))
            .expect("photo");
    }
    assert!(
        fetcher.paced() >= Duration::from_millis(100),
        "paced {:?}",
        fetcher.paced()
    );
    // A host without a policy is never paced.
    let free = fetcher_for(&[server.host()]);
    for i in 0..4 {
        free.get_image(&format!("{}/{i}.png", server.url()))
            .expect("photo");
    }
    assert_eq!(free.paced(), Duration::ZERO);
}

#[test]
fn a_refused_connection_names_the_url_once_and_says_what_failed() {
    // A port nothing listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let url = format!("http://127.0.0.1:{port}/photo.jpg");
    let err = fetcher_for(&[format!("127.0.0.1:{port}")])
        .get(&url)
        .expect_err("nothing listens");
    assert!(matches!(err, FetchError::Network { .. }), "{err:?}");
    let message = err.to_string();
    assert_eq!(message.matches(&url).count(), 1, "{message}");
    assert!(
        message.to_lowercase().contains("connection refused"),
        "{message}"
    );
}
