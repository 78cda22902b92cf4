//! The front door against clients that misbehave: heads sent a byte at a
//! time, more connections than allowed, uploads that stall; and HTTPS
//! terminated by `serve` itself.

use super::stack::Stack;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads until the server answers a status line or closes: the status
/// line, or "" when it closed without one; `None` if neither within
/// `within`.
async fn answer_or_close(c: &mut TcpStream, within: Duration) -> Option<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(2).any(|w| w == b"\r\n") {
                break;
            }
        }
    })
    .await
    .ok()?;
    Some(
        String::from_utf8_lossy(&got)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_head_is_cut_off_at_the_header_timeout() {
    let mut s = Stack::new("trickle", true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_HEADER_TIMEOUT", "2s")]);
    s.wait_serving().await;
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let start = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: \
        127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    // One byte every 200 ms: the whole head would take 16 s.
    let mut sent = 0;
    let closed = loop {
        if c.write_all(&head[sent..sent + 1]).await.is_err() {
            break true;
        }
        sent += 1;
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
        if sent == head.len() {
            break false;
        }
    };
    let took = start.elapsed();
    assert!(closed, "the whole head went through, slowly");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let mut s = Stack::new("connlimit", true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_MAX_CONNECTIONS", "2")]);
    s.wait_serving().await;
    // Two clients that connect and say nothing hold both places.
    let idle_a = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let _idle_b = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        answer_or_close(&mut third, Duration::from_secs(1)).await,
        None,
        "a third connection was served past the limit of two"
    );
    drop(idle_a);
    let status = answer_or_close(&mut third, Duration::from_secs(5)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_stops_arriving_is_dropped_with_408() {
    let mut s = Stack::new("stall", true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_BODY_IDLE_TIMEOUT", "1s")]);
    s.wait_serving().await;
    let token = s.tokens["uploader"].clone();
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    let head = format!(
        "POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n\
         --x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nPNG-start"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let status = answer_or_close(&mut c, Duration::from_secs(5)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
    // Nothing of it was kept.
    let spool = s.storage.path().join("originals/tmp");
    assert_eq!(std::fs::read_dir(spool).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_terminates_tls_with_the_certificate_it_is_given() {
    let mut s = Stack::new("https", true).await;
    let dir = s.storage.path().to_path_buf();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(made.status.success(), "{made:?}");
    s.start(
        "serve",
        &["serve"],
        &[
            ("FORMFLOW_TLS_CERT", cert.to_str().unwrap()),
            ("FORMFLOW_TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let url = format!("https://localhost:{}/healthz", s.port);
    let start = Instant::now();
    let body = loop {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "--cacert"])
            .arg(&cert)
            .arg(&url)
            .output()
            .expect("curl runs");
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no HTTPS answer: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log("serve")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body, r#"{"status":"ok"}"#);
    // Plain HTTP on the TLS port gets no answer.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://localhost:{}/healthz", s.port))
        .output()
        .expect("curl runs");
    assert!(!plain.status.success(), "{plain:?}");
    assert!(
        s.log("serve").contains("serving on https://"),
        "{}",
        s.log("serve")
    );
}

/// The status line of `GET path` sent with `Host: host`.
async fn status_for_host(port: u16, path: &str, host: &str) -> Option<String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    answer_or_close(&mut c, Duration::from_secs(5)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_naming_another_host_are_refused() {
    // On loopback, with no public URL: its own names only (a page elsewhere
    // that rebinds its name to 127.0.0.1 cannot read it).
    let mut s = Stack::new("hosts", true).await;
    s.start("serve", &["serve"], &[]);
    s.wait_serving().await;
    let port = s.port;
    let local = format!("localhost:{port}");
    let rebound = format!("rebound.evil.example:{port}");
    let ok = Some("HTTP/1.1 200 OK".to_string());
    let misdirected = Some("HTTP/1.1 421 Misdirected Request".to_string());
    assert_eq!(status_for_host(port, "/sign-in", &local).await, ok);
    assert_eq!(
        status_for_host(port, "/sign-in", &rebound).await,
        misdirected
    );
    // Probes answer to any name.
    assert_eq!(status_for_host(port, "/healthz", &rebound).await, ok);
    s.signal("serve", "TERM");
    s.wait_exit("serve", Duration::from_secs(30));
    // With a public URL, its host alone.
    s.start(
        "serve-public",
        &["serve"],
        &[("FORMFLOW_PUBLIC_URL", "https://forms.example.gov.uk")],
    );
    s.wait_serving().await;
    assert_eq!(
        status_for_host(port, "/sign-in", "forms.example.gov.uk").await,
        ok
    );
    assert_eq!(status_for_host(port, "/sign-in", &local).await, misdirected);
}
