//! TLS on the way out: PostgreSQL and RabbitMQ. The machine's PostgreSQL
//! has `ssl = on` with Debian's snakeoil certificate (made for `localhost`).

use super::stack::PG;
use formflow_service::queue::Names;
use formflow_service::{Broker, Db};
use std::time::Duration;
use tokio::io::AsyncReadExt as _;

/// The server's own certificate, which is its CA too.
const SERVER_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

async fn connect(url: &str) -> Result<Db, formflow_service::db::DbError> {
    Db::connect(url, 1, Duration::from_secs(10)).await
}

async fn over_tls(db: &Db) -> bool {
    let Db::Postgres(p) = db else {
        panic!("not PostgreSQL")
    };
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(p)
            .await
            .expect("pg_stat_ssl");
    ssl
}

#[tokio::test]
async fn postgres_is_reached_over_tls_when_the_url_requires_it() {
    let db = connect(&format!("{PG}/test?sslmode=require"))
        .await
        .expect("sslmode=require connects");
    assert!(over_tls(&db).await);
    db.close().await;
    // Verified against the CA named in the URL, for the name it was made for.
    let host = PG.replace("127.0.0.1", "localhost");
    let db = connect(&format!(
        "{host}/test?sslmode=verify-full&sslrootcert={SERVER_CERT}"
    ))
    .await
    .expect("verify-full with the server's CA connects");
    assert!(over_tls(&db).await);
    db.close().await;
}

#[tokio::test]
async fn postgres_whose_certificate_does_not_match_is_refused_not_downgraded() {
    // The certificate names localhost, not 127.0.0.1.
    let err = connect(&format!(
        "{PG}/test?sslmode=verify-full&sslrootcert={SERVER_CERT}"
    ))
    .await
    .expect_err("a server whose name does not match is refused");
    let text = err.to_string();
    assert!(text.contains("certificate not valid for name"), "{text}");
}

#[tokio::test]
async fn amqps_speaks_tls_and_never_sends_the_password_in_clear() {
    // A listener that records what a client sends and answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let recorded = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Until the client gives up and closes.
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let broker = Broker::rabbit(
        &format!("amqps://formflow:s3cr3t-broker-pw@127.0.0.1:{port}/%2f?connection_timeout=2000"),
        Names::default(),
    );
    assert!(broker.ping().await.is_err(), "nothing answered");
    let got = recorded.await.unwrap();
    assert!(!got.is_empty(), "the client sent nothing");
    // A TLS handshake record (0x16), then TLS 1.x.
    assert_eq!(&got[..2], &[0x16, 0x03], "{:?}", &got[..got.len().min(16)]);
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.contains("s3cr3t-broker-pw"),
        "the password went in clear"
    );
    assert!(!text.contains("AMQP"), "AMQP went in clear");
}
