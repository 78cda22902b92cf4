//! The hot folder (`formflow watch`) against `serve` and `worker` on
//! PostgreSQL and RabbitMQ: a scan still being written is not sent; a
//! complete one is sent once and moved to done/; a file the service
//! refuses goes to refused/ beside a note saying why; restarted, the
//! watcher sends nothing twice and compacts its journal; its metrics count
//! it all.

use super::stack::{free_port, Stack};
use crate::util::repo;
use std::io::Write as _;
use std::time::{Duration, Instant};

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_folder_sends_each_complete_scan_once_and_files_it() {
    let mut s = Stack::new("hotfolder", true).await;
    s.start("serve", &["serve"], &[]);
    s.start("worker", &["worker"], &[]);
    s.wait_serving().await;
    let dir = s.storage.path().join("scanner");
    std::fs::create_dir(&dir).unwrap();
    let dir_arg = dir.to_str().unwrap().to_string();
    let metrics = format!("127.0.0.1:{}", free_port());
    let base = s.base();
    let token = s.tokens["uploader"].clone();
    let args = [
        "watch",
        dir_arg.as_str(),
        "--watch-interval",
        "1s",
        "--watch-settle",
        "2s",
        "--metrics-listen",
        metrics.as_str(),
    ];
    let env = [
        ("FORMFLOW_SERVER", base.as_str()),
        ("FORMFLOW_TOKEN", token.as_str()),
    ];
    s.start("watch", &args, &env);

    // A scanner writes half a scan, pauses, then the rest: nothing is sent
    // until its size has stopped changing.
    let scan = std::fs::read(repo("samples/documents/voter-registration-002.jpg")).unwrap();
    let target = dir.join("scan-0001.jpg");
    let mut f = std::fs::File::create(&target).unwrap();
    f.write_all(&scan[..scan.len() / 2]).unwrap();
    f.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.count("SELECT COUNT(*) FROM documents").await, 0);
    f.write_all(&scan[scan.len() / 2..]).unwrap();
    drop(f);
    // And a file that is no scan.
    std::fs::copy(
        repo("samples/bad-inputs/random.bin"),
        dir.join("random.bin"),
    )
    .unwrap();

    let done = dir.join("done/scan-0001.jpg");
    let logs = |s: &Stack| format!("watch: {}\nserve: {}", s.log("watch"), s.log("serve"));
    let arrived = Instant::now();
    while !done.is_file() {
        assert!(arrived.elapsed() < Duration::from_secs(60), "{}", logs(&s));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!target.exists());
    assert_eq!(std::fs::read(&done).unwrap(), scan, "moved whole");
    let refused = dir.join("refused/random.bin");
    wait_for("the file in refused/", || refused.is_file()).await;
    assert_eq!(
        std::fs::read_to_string(dir.join("refused/random.bin.txt")).unwrap(),
        "the file is not a PDF, TIFF, PNG or JPEG\n"
    );
    // Sent once, whole.
    assert_eq!(s.count("SELECT COUNT(*) FROM documents").await, 1);
    assert_eq!(
        s.count("SELECT bytes FROM documents").await,
        scan.len() as i64
    );

    let scraped = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "formflow_hot_folder_files_total{outcome=\"accepted\"} 1",
        "formflow_hot_folder_files_total{outcome=\"refused\"} 1",
        "formflow_hot_folder_waiting_files 0",
    ] {
        assert!(scraped.contains(line), "{line} in {scraped}");
    }

    // Stopped after the journal has the scan but before it was moved (put
    // back as it was), the watcher started again files it without sending.
    s.signal("watch", "TERM");
    assert!(s.wait_exit("watch", Duration::from_secs(30)).success());
    std::fs::rename(&done, &target).unwrap();
    s.start("watch again", &args, &env);
    wait_for("the scan in done/ again", || done.is_file()).await;
    assert_eq!(
        s.count("SELECT COUNT(*) FROM documents").await,
        1,
        "not sent twice"
    );
    // The journal, compacted at the restart, keeps only the scan that was
    // still in the folder (not random.bin, long moved to refused/), once.
    let journal = std::fs::read_to_string(dir.join(".formflow-sent.jsonl")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert_eq!(lines.len(), 1, "{journal}");
    assert!(lines[0].contains("scan-0001.jpg"), "{journal}");
    assert!(!dir.join(".formflow-sent.jsonl.new").exists());
    s.signal("watch again", "TERM");
    assert!(s
        .wait_exit("watch again", Duration::from_secs(30))
        .success());
}
