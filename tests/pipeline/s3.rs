//! Originals on a real S3-compatible server: moto (`scripts/fetch-moto.sh`)
//! on loopback, spoken to over HTTP as any S3 store is. The storage layer
//! alone (put, get, the same bytes twice, a missing object, the server
//! down), then `serve` and `worker` keeping a batch's originals there.

use super::stack::{free_port, Stack};
use crate::util::repo;
use formflow_service::blobs::{AmazonS3Builder, BlobError};
use formflow_service::Blobs;
use futures_util::StreamExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    async fn start() -> Moto {
        let lib = repo("vendor/moto");
        assert!(
            lib.join("moto").is_dir(),
            "{} is missing: run scripts/fetch-moto.sh",
            lib.display()
        );
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("PYTHONPATH", &lib)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs moto");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(moto.url()).await.is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        moto
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes a bucket (moto takes any credentials).
    async fn bucket(&self, name: &str) {
        let r = reqwest::Client::new()
            .put(format!("{}/{name}", self.url()))
            .send()
            .await
            .expect("moto answers");
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }

    /// The keys in a bucket, as S3's ListObjectsV2 gives them.
    async fn keys(&self, bucket: &str) -> Vec<String> {
        let xml = reqwest::get(format!("{}/{bucket}?list-type=2", self.url()))
            .await
            .expect("moto answers")
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|k| k.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }

    /// The variables `FORMFLOW_STORAGE=s3://...` reads.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.url()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "eu-west-2".into()),
            ("AWS_ACCESS_KEY_ID", "formflow-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "formflow-test-secret".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn store(moto: &Moto, bucket: &str, prefix: &str) -> Blobs {
    let mut b = AmazonS3Builder::new().with_bucket_name(bucket);
    for (k, v) in moto.env() {
        b = match k {
            "AWS_ENDPOINT" => b.with_endpoint(v),
            "AWS_ALLOW_HTTP" => b.with_allow_http(true),
            "AWS_REGION" => b.with_region(v),
            "AWS_ACCESS_KEY_ID" => b.with_access_key_id(v),
            _ => b.with_secret_access_key(v),
        };
    }
    Blobs::s3(b, prefix).expect("an S3 store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn originals_are_put_and_got_once_on_a_real_s3_server_and_its_faults_are_said() {
    let moto = Moto::start().await;
    moto.bucket("originals").await;
    let blobs = store(&moto, "originals", "/formflow/");
    let scan = std::fs::read(repo("samples/documents/voter-registration-035.png")).unwrap();

    // Put, then get the same bytes back, whole and streamed.
    let sha = blobs.put(&scan).await.expect("put");
    assert_eq!(sha, formflow_service::blobs::sha256_hex(&scan));
    assert_eq!(blobs.get(&sha).await.expect("get"), scan);
    let (size, mut pieces) = blobs.stream(&sha).await.expect("stream");
    assert_eq!(size, scan.len() as u64);
    let mut streamed = Vec::new();
    while let Some(p) = pieces.next().await {
        streamed.extend_from_slice(&p.expect("a piece"));
    }
    assert_eq!(streamed, scan);
    let key = format!("formflow/sha256/{}/{sha}", &sha[..2]);
    assert_eq!(moto.keys("originals").await, vec![key.clone()]);

    // The same bytes again, by put and by put_file: still one object.
    assert_eq!(blobs.put(&scan).await.expect("put again"), sha);
    let spooled = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(spooled.path(), &scan).unwrap();
    blobs
        .put_file(spooled.path(), &sha)
        .await
        .expect("put_file");
    assert_eq!(moto.keys("originals").await, vec![key]);

    // A missing object is missing, not a passing fault.
    let absent = "0".repeat(64);
    match blobs.get(&absent).await {
        Err(e @ BlobError::Missing(_)) => assert!(!e.is_transient()),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        blobs.stream(&absent).await.map(|_| ()),
        Err(BlobError::Missing(_))
    ));

    // Erasure deletes it; deleting it again is no error.
    blobs.delete(&sha).await.expect("delete");
    blobs.delete(&sha).await.expect("delete again");
    assert!(moto.keys("originals").await.is_empty());

    // The server down: a passing fault, said within the retry limit.
    drop(moto);
    let started = Instant::now();
    let down = blobs.put(&scan).await.expect_err("the server is down");
    assert!(down.is_transient(), "{down}");
    assert!(
        down.to_string()
            .starts_with("the object store could not be used"),
        "{down}"
    );
    assert!(
        started.elapsed() < formflow_service::blobs::S3_RETRY_TIMEOUT + Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(blobs.get(&sha).await.expect_err("down").is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_worker_keep_originals_on_an_s3_server() {
    let moto = Moto::start().await;
    moto.bucket("scans").await;
    let mut s = Stack::new("s3", true).await;
    let env: Vec<(&str, String)> = moto
        .env()
        .into_iter()
        .chain([("FORMFLOW_STORAGE", "s3://scans/originals".to_string())])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    s.start("serve", &["serve"], &env);
    s.start("worker", &["worker"], &env);
    s.wait_serving().await;
    let file = "samples/documents/voter-registration-035.png";
    let (status, answer) = s.upload(&[Path::new(file)]).await;
    assert_eq!(status, 202, "{answer}");
    let batch = answer["batch_id"].as_str().unwrap().to_string();
    let view = s.wait_batch(&batch, Duration::from_secs(120)).await;
    assert_eq!(view["documents"][0]["status"], "extracted", "{view}");
    let id = view["documents"][0]["id"].as_str().unwrap().to_string();
    // The original is in the bucket, and comes back byte for byte.
    let bytes = std::fs::read(repo(file)).unwrap();
    let sha = formflow_service::blobs::sha256_hex(&bytes);
    assert_eq!(
        moto.keys("scans").await,
        vec![format!("originals/sha256/{}/{sha}", &sha[..2])]
    );
    let original = s.raw(&format!("/api/v1/documents/{id}/original")).await;
    assert_eq!(original.status(), 200);
    assert_eq!(original.bytes().await.unwrap().to_vec(), bytes);
    // Nothing was written to the local originals folder.
    assert!(!s.storage.path().join("originals/sha256").exists());
}
