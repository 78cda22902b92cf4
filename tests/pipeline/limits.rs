//! Memory bounded by settings, not by clients: uploads are received to
//! disk as they arrive, a file over the size limit is refused without
//! being held, a request announcing more than the limit is refused before
//! it is read (and the rest of what the client sends is taken, so that it
//! reads the answer), and uploads beyond the concurrent limit are asked to
//! come back; originals are streamed to slow clients. Peak memory is read
//! from `/proc`.

use super::stack::Stack;
use crate::util::repo;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    kb / 1024
}

/// `serve` (with `env`) after one small upload, so that everything an
/// upload touches is loaded: the stack, serve's pid, the document's id.
async fn serving_one_upload(name: &str, env: &[(&str, &str)]) -> (Stack, u32, String) {
    let mut s = Stack::new(name, true).await;
    s.start("serve", &["serve"], env);
    s.wait_serving().await;
    let pid = s.child("serve").id();
    let (status, answer) = s
        .upload(&[Path::new("samples/documents/voter-registration-035.png")])
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["documents"][0]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    (s, pid, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_is_received_to_disk_and_a_file_over_the_limit_is_not_held() {
    let (s, pid, _) = serving_one_upload("bigupload", &[("FORMFLOW_MAX_FILE_MB", "20")]).await;
    let before = peak_mib(pid);
    // 150 MB in one part: a PNG's first bytes, then nothing of use.
    let mut big = std::fs::read(repo("samples/documents/voter-registration-035.png")).unwrap();
    big.resize(150_000_000, 0);
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(big).file_name("huge.png"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                std::fs::read(repo("samples/documents/voter-registration-002.jpg")).unwrap(),
            )
            .file_name("small.jpg"),
        );
    let r = s
        .client("uploader")
        .post(format!("{}/api/v1/batches", s.base()))
        .multipart(form)
        .send()
        .await
        .expect("upload sent");
    assert_eq!(r.status(), 202);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        answer["documents"].as_array().map(Vec::len),
        Some(1),
        "{answer}"
    );
    assert_eq!(answer["documents"][0]["file"], "small.jpg");
    assert_eq!(answer["refused"][0]["file"], "huge.png");
    assert_eq!(
        answer["refused"][0]["error"], "the file is 150 MB; the limit is 20 MB",
        "{answer}"
    );
    let after = peak_mib(pid);
    eprintln!("serve's peak memory: {before} MiB, then {after} MiB after a 150 MB upload");
    assert!(
        after < before + 40,
        "serve's peak memory went from {before} MiB to {after} MiB for a 150 MB upload"
    );
    // Nothing of the refused file is left in the spool.
    let spool = s.storage.path().join("originals/tmp");
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_whose_headers_never_end_is_refused_without_being_held() {
    let (s, pid, _) = serving_one_upload("partheader", &[]).await;
    let before = peak_mib(pid);
    // One part header of 100 MB: its blank line never comes.
    let mut body =
        b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nX-Pad: "
            .to_vec();
    body.resize(100_000_000, b'a');
    let token = s.tokens["uploader"].clone();
    let head = format!(
        "POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let started = std::time::Instant::now();
    let c = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    let (mut rx, mut tx) = c.into_split();
    // The service answers before the body is all sent, and closes.
    let sender = tokio::spawn(async move {
        let _ = tx.write_all(head.as_bytes()).await;
        let _ = tx.write_all(&body).await;
    });
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), rx.read_to_end(&mut got)).await;
    let took = started.elapsed();
    sender.abort();
    let answer = String::from_utf8_lossy(&got);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("headers or a form field longer than 1 MB"),
        "{answer}"
    );
    // Answered before the body was read: the client is told the
    // connection closes, so it does not send its next request down it.
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    let after = peak_mib(pid);
    eprintln!("serve's peak memory: {before} MiB, then {after} MiB; answered in {took:?}");
    assert!(
        after < before + 20,
        "serve's peak memory went from {before} MiB to {after} MiB for a 100 MB part header"
    );
    // A file among ordinary fields still goes through.
    let form = reqwest::multipart::Form::new()
        .text("note", "scanned at the front desk")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                std::fs::read(repo("samples/documents/voter-registration-002.jpg")).unwrap(),
            )
            .file_name("small.jpg"),
        );
    let r = s
        .client("uploader")
        .post(format!("{}/api/v1/batches", s.base()))
        .multipart(form)
        .send()
        .await
        .expect("upload sent");
    assert_eq!(r.status(), 202);
    // Read to its end, the upload leaves its connection open for the next.
    assert_ne!(
        r.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
}

/// Sends a request's head and `body` on a raw connection; the answer's
/// head (its status line first), which must come within `within`.
async fn raw_request(port: u16, head: &str, body: &[u8], within: Duration) -> String {
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(body)
        .await
        .expect("the whole body sent, not cut off by a reset");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(within, async {
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = c.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {within:?}");
    let got = String::from_utf8_lossy(&got);
    got.split("\r\n\r\n").next().unwrap_or_default().to_string()
}

/// Starts `serve` with an upload limit of `limit_mb`, announces an upload
/// of `announced` bytes, sends `body` of it on a raw connection, and checks
/// the answer within `within`: 413, and, as the body was not read, the
/// connection cannot carry another request and the answer says so.
async fn refused_upload(
    name: &str,
    limit_mb: &str,
    announced: usize,
    body: &[u8],
    within: Duration,
) {
    let mut s = Stack::new(name, true).await;
    s.start("serve", &["serve"], &[("FORMFLOW_MAX_UPLOAD_MB", limit_mb)]);
    s.wait_serving().await;
    let token = s.tokens["uploader"].clone();
    let head = format!(
        "POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {announced}\r\n\r\n"
    );
    let answer = raw_request(s.port, &head, body, within).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_announcing_more_than_the_limit_is_refused_before_it_is_read() {
    // One byte of the 600 MB announced, then nothing: the answer comes anyway.
    refused_upload(
        "announced",
        "10",
        600_000_000,
        b"-",
        Duration::from_secs(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_a_refused_upload_gets_the_answer_not_a_reset() {
    // 24 MB, announced and sent whole: far more than the sockets' buffers
    // hold, so the client is still sending when the answer is given. Were
    // the connection closed on it then, the rest would meet a reset.
    let body = vec![b'-'; 24_000_000];
    refused_upload("linger", "1", body.len(), &body, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_beyond_the_concurrent_limit_are_asked_to_come_back() {
    let mut s = Stack::new("concurrent", true).await;
    s.start(
        "serve",
        &["serve"],
        &[("FORMFLOW_MAX_CONCURRENT_UPLOADS", "1")],
    );
    s.wait_serving().await;
    // The first upload sends its head and a little of its body, then waits.
    let token = s.tokens["uploader"].clone();
    let head = format!(
        "POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n"
    );
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(
        b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = s
        .upload(&[Path::new("samples/documents/voter-registration-035.png")])
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("send this one again in a few seconds"),
        "{answer}"
    );
    // The first one gone, the next is taken.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, answer) = s
        .upload(&[Path::new("samples/documents/voter-registration-035.png")])
        .await;
    assert_eq!(status, 202, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_is_not_ready_when_its_folder_has_no_room_for_the_largest_upload() {
    let mut s = Stack::new("noroom", true).await;
    // Uploads of up to a petabyte: no disk here has room for one.
    s.start(
        "serve",
        &["serve"],
        &[("FORMFLOW_MAX_UPLOAD_MB", "1000000000")],
    );
    s.wait_serving().await;
    let (status, ready) = s.get("/readyz").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["storage"], "nearly full", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downloads_of_a_large_original_are_streamed_not_held() {
    let (s, pid, id) = serving_one_upload("downloads", &[]).await;
    // The stored original grows to 95 MB (as a large scan would be).
    let originals = s.storage.path().join("originals/sha256");
    let stored = std::fs::read_dir(&originals)
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .next()
        .expect("the stored original");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&stored)
        .unwrap()
        .set_len(95_000_000)
        .unwrap();
    let before = peak_mib(pid);
    // Ten clients that take the first piece and then read no more.
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut r = s.raw(&format!("/api/v1/documents/{id}/original")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_length(), Some(95_000_000));
        let first = r.chunk().await.unwrap().expect("a first piece").len();
        held.push((r, first));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = peak_mib(pid);
    eprintln!("serve's peak memory: {before} MiB, then {during} MiB with ten downloads held");
    assert!(
        during < before + 60,
        "serve's peak memory went from {before} MiB to {during} MiB for ten downloads of 95 MB"
    );
    // One read to the end has every byte.
    let (r, first) = held.pop().unwrap();
    let rest = r.bytes().await.unwrap();
    assert_eq!(first + rest.len(), 95_000_000);
}
