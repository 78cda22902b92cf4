//! The disk filling up under the embedded runner: uploads and readiness
//! fail plainly while it is full, nothing half-written is left, and once
//! there is room again everything works without a restart. The data folder
//! is a small tmpfs this test mounts (as root, or with sudo).

use crate::util::repo;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `mb` megabytes mounted on a new folder; unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
    at: PathBuf,
}

fn as_root(args: &[&str]) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut c = if root {
        Command::new(args[0])
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg(args[0]);
        c
    };
    c.args(&args[1..])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Tmpfs {
    fn mount(mb: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("data");
        std::fs::create_dir(&at).unwrap();
        assert!(
            as_root(&[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mb}m,mode=0700"),
                "tmpfs",
                at.to_str().unwrap(),
            ]),
            "this test mounts a small tmpfs: run the tests as root or with sudo that asks no \
             password"
        );
        Tmpfs { dir, at }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        as_root(&["umount", "-l", self.at.to_str().unwrap()]);
        let _ = &self.dir;
    }
}

/// Fills the file system of `dir` with `path` until writes fail.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![7u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // And the last few bytes a block would not fit.
    while f.write_all(&block[..512]).is_ok() {}
    let _ = f.sync_all();
}

fn formflow(data: &Path, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_formflow"));
    c.env(
        "DATABASE_URL",
        format!("sqlite://{}/formflow.db", data.display()),
    )
    .env("FORMFLOW_STORAGE", data.join("originals"))
    .env("FORMFLOW_LISTEN", format!("127.0.0.1:{port}"))
    .env("FORMFLOW_TODAY", "2026-11-22")
    .env("FORMFLOW_MAX_UPLOAD_MB", "2")
    .env_remove("FORMFLOW_CONFIG")
    .current_dir(data);
    c
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_uploads_plainly_and_they_work_again_once_there_is_room() {
    let fs = Tmpfs::mount(12);
    let data = fs.at.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = formflow(&data, port).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = formflow(&data, port)
        .args(["token", "create", "desk", "--role", "uploader"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    let log = std::fs::File::create(fs.dir.path().join("run.log")).unwrap();
    let _run = Killed(
        formflow(&data, port)
            .args(["run", "--serve", "--data"])
            .arg(&data)
            .arg(repo("samples/documents/legal-aid-cw1-018.tif"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run --serve did not serve"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let upload = |name: &'static str| {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        async move {
            let bytes = std::fs::read(repo(name)).unwrap();
            let form = reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("scan.tif"),
            );
            let r = client
                .post(format!("{base}/api/v1/batches"))
                .bearer_auth(&token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let ready = || {
        let client = client.clone();
        let base = base.clone();
        async move {
            let r = client.get(format!("{base}/readyz")).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(ready().await.0, 200);

    // Full: the upload fails in plain words, nothing of it is left, and
    // the service says it is not ready.
    let filler = data.join("filler");
    fill(&filler);
    let (st, body) = upload("samples/documents/legal-aid-cw1-028.tif").await;
    assert_eq!(st, 507, "{body}");
    assert!(body.contains("no room left to keep uploads"), "{body}");
    let (st, body) = ready().await;
    assert_eq!(st, 503, "{body}");
    let spool: Vec<_> = std::fs::read_dir(data.join("originals/tmp"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "left in the spool: {spool:?}");

    // Room again: no restart, no "database is locked".
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    loop {
        let (st, body) = ready().await;
        if st == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still not ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (st, body) = upload("samples/documents/legal-aid-cw1-028.tif").await;
    assert_eq!(st, 202, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let batch = answer["batch_id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let v: serde_json::Value = client
            .get(format!("{base}/api/v1/batches/{batch}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["done"] == true {
            assert_eq!(v["documents"][0]["status"], "needs_review", "{v}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not read: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
