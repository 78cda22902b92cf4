//! The `formflow` command as scripts and downstream tools use it.

use crate::util::repo;
use std::process::Command;

fn formflow(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_formflow"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("formflow runs")
}

#[test]
fn extract_writes_one_json_line_a_document_and_a_failed_line_for_a_bad_file() {
    let out = formflow(&[
        "extract",
        "--today",
        "2026-11-22",
        "samples/bad-inputs/random.bin",
        "samples/documents/voter-registration-035.png",
        "samples/batches/batch-mini.pdf",
    ]);
    // Some files could not be read: exit code 2, saying how many.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 of 3 file(s) could not be read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["source"], "random.bin");
    assert_eq!(lines[0]["status"], "failed");
    assert_eq!(
        lines[0]["error"],
        "the file is not a PDF, TIFF, PNG or JPEG"
    );
    assert_eq!(lines[1]["form"], "voter-registration");
    assert_eq!(lines[1]["fields"]["surname"]["value"], "THOMPSON");
    assert!(lines[1]["fields"]["surname"]["confidence"]
        .as_f64()
        .is_some_and(|c| (0.0..=1.0).contains(&c)));
    assert_eq!(lines[2]["source"], "batch-mini.pdf");
    assert_eq!(lines[2]["pages"], serde_json::json!([2, 1]));
    assert_eq!(lines[3]["pages"], serde_json::json!([3]));
}

/// The exit codes scripts rely on: 0 all read, 1 a usage or
/// configuration error (and --help is 0).
#[test]
fn exit_codes_say_how_a_command_ended() {
    let all_read = formflow(&[
        "extract",
        "--today",
        "2026-11-22",
        "samples/documents/voter-registration-035.png",
    ]);
    assert_eq!(all_read.status.code(), Some(0));
    for usage in [
        &["extract", "--no-such-option"][..],
        &["no-such-command"][..],
        &["extract", "no/such/file.pdf"][..],
        &["run", "--review-threshold", "lots"][..],
    ] {
        let out = formflow(usage);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{usage:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{usage:?} says why");
    }
    assert_eq!(formflow(&["--help"]).status.code(), Some(0));
    assert_eq!(formflow(&["upload", "--help"]).status.code(), Some(0));
}

#[test]
fn eval_prints_the_contract_metrics_as_json() {
    let out = formflow(&["eval", "--json", "--today", "2026-11-22", "samples"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["documents"], 12);
    assert_eq!(v["classified"], 1.0);
    assert_eq!(v["split_right"], 1.0);
    for key in [
        "field_accuracy",
        "silent_error_rate",
        "review_load",
        "invalid_caught",
        "straight_through",
        "by_tier",
        "by_type",
    ] {
        assert!(!v[key].is_null(), "{key}");
    }
    // The calibration table counts every field once; the review curve runs
    // from nothing reviewed to 60%, the silent errors never rising.
    let bands = v["reliability"]["bands"].as_array().expect("bands");
    let fields: u64 = bands.iter().map(|b| b["fields"].as_u64().unwrap()).sum();
    assert_eq!(fields, v["counts"]["fields"].as_u64().unwrap());
    let curve = v["reliability"]["review_curve"].as_array().expect("curve");
    assert_eq!(curve.len(), 13);
    assert_eq!(curve[0]["reviewed"], 0.0);
    assert!(curve
        .windows(2)
        .all(|w| w[1]["silent_errors"].as_f64() <= w[0]["silent_errors"].as_f64()));
}

#[test]
fn a_missing_file_is_an_error_in_plain_words() {
    let out = formflow(&["extract", "no-such-file.pdf"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Failed to read no-such-file.pdf"), "{err}");
}

#[test]
fn limits_are_set_from_the_command_line() {
    let out = formflow(&[
        "extract",
        "--max-pages",
        "2",
        "samples/batches/batch-mini.pdf",
    ]);
    assert_eq!(out.status.code(), Some(2), "the file failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"], "the PDF has 3 pages; the limit is 2");
}

#[test]
fn settings_may_come_from_a_config_file_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file.db");
    let from_env = dir.path().join("from-env.db");
    let config = dir.path().join("formflow.env");
    std::fs::write(
        &config,
        format!(
            "# formflow settings\nDATABASE_URL=sqlite://{}\n",
            from_file.display()
        ),
    )
    .unwrap();
    let migrate = |env: Option<&std::path::Path>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_formflow"));
        c.args(["migrate", "--config"])
            .arg(&config)
            .env_remove("DATABASE_URL")
            .env_remove("FORMFLOW_CONFIG");
        if let Some(p) = env {
            c.env("DATABASE_URL", format!("sqlite://{}", p.display()));
        }
        c.output().expect("formflow runs")
    };
    let out = migrate(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_file.exists());
    let out = migrate(Some(&from_env));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_env.exists(), "the environment wins over the file");
    let out = Command::new(env!("CARGO_BIN_EXE_formflow"))
        .args(["migrate", "--config", "/nonexistent/formflow.env"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("config file /nonexistent/formflow.env could not be read"));
}

#[test]
fn secrets_in_the_environment_are_not_printed_by_help() {
    for cmd in [
        "serve", "worker", "run", "migrate", "bench", "drill", "purge",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_formflow"))
            .args([cmd, "--help"])
            .env(
                "DATABASE_URL",
                "postgres://clerk:sekret1@db.example/formflow",
            )
            .env("AMQP_URL", "amqps://clerk:sekret2@mq.example/%2f")
            .env("FORMFLOW_STORAGE", "s3://sekret3-bucket/originals")
            .env(
                "FORMFLOW_BENCH_ADMIN_URL",
                "postgres://admin:sekret4@db.example/x",
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd} --help");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--help"), "{cmd}: {help}");
        assert!(
            !help.contains("sekret"),
            "{cmd} --help prints a secret:\n{help}"
        );
    }
}

#[test]
fn every_setting_is_listed_in_help_with_its_variable() {
    for (cmd, vars) in [
        (
            "serve",
            &[
                "DATABASE_URL",
                "AMQP_URL",
                "FORMFLOW_STORAGE",
                "FORMFLOW_LISTEN",
                "FORMFLOW_QUEUE",
                "FORMFLOW_EVENTS_EXCHANGE",
                "FORMFLOW_MAX_UPLOAD_MB",
                "FORMFLOW_MAX_FILES",
                "FORMFLOW_MAX_PAGES",
                "FORMFLOW_CONFIG",
                "FORMFLOW_RETENTION_DAYS",
            ][..],
        ),
        (
            "worker",
            &[
                "DATABASE_URL",
                "AMQP_URL",
                "FORMFLOW_STORAGE",
                "FORMFLOW_THREADS",
                "FORMFLOW_MAX_ATTEMPTS",
                "FORMFLOW_RETRIES",
                "FORMFLOW_PAGE_TIMEOUT",
                "FORMFLOW_SPLIT_PAGES",
            ][..],
        ),
        (
            "run",
            &[
                "FORMFLOW_DATA",
                "DATABASE_URL",
                "FORMFLOW_STORAGE",
                "FORMFLOW_LISTEN",
            ][..],
        ),
        ("upload", &["FORMFLOW_SERVER"][..]),
    ] {
        let out = formflow(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        for v in vars {
            assert!(
                help.contains(&format!("[env: {v}")),
                "{cmd} --help lacks {v}:\n{help}"
            );
        }
    }
}

#[test]
fn secrets_in_settings_are_kept_out_of_debug_output_and_errors() {
    // Options printed whole (a debug log of the settings) hide the secret.
    let store = formflow::commands::StoreOpts {
        database_url: Some(formflow::commands::secret("postgres://clerk:sekret5@db/x").unwrap()),
        storage: None,
        db_connections: 8,
    };
    let shown = format!("{store:?}");
    assert!(!shown.contains("sekret5"), "{shown}");
    // A server that cannot be reached is named without the password.
    assert_eq!(
        formflow::commands::server_of("postgres://clerk:sekret6@db.example:5432/x?sslmode=require"),
        "db.example:5432"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_formflow"))
        .arg("migrate")
        .env("DATABASE_URL", "postgres://clerk:sekret7@127.0.0.1:1/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not be used"), "{err}");
    assert!(!err.contains("sekret"), "{err}");
}
