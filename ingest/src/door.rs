//! The front door: accepting connections and serving HTTP/1.1 on them, with
//! the limits a service facing clients it does not control needs.
//!
//! - at most [`Door::max_connections`] connections at once; more wait in
//!   the kernel's backlog until one closes;
//! - a client has [`Door::header_timeout`] to send a request's head (and,
//!   between requests on a kept-alive connection, to start the next one),
//!   and TLS clients as long to finish their handshake: a client that
//!   trickles its head one byte at a time is cut off;
//! - request heads are held to 64 KiB;
//! - an answer given before its request's body was read to the end (a
//!   refused upload) says `Connection: close`, and the connection is closed
//!   after it: hyper closes it anyway, and a client told so does not send
//!   its next request down a connection that is going away. Until then the
//!   rest of the body is read and thrown away (at most [`LINGER_BYTES`],
//!   for at most [`LINGER_TIME`]): closed on a client still sending, the
//!   connection would be reset, and the client would see a broken pipe
//!   rather than the answer;
//! - TLS is terminated here when a certificate is given
//!   ([`tls_config`]), or left to a proxy in front;
//! - on shutdown, no new connection is taken, each open one finishes its
//!   request in hand and is closed, and after [`Door::shutdown_deadline`]
//!   whatever is still open is dropped.
//!
//! Body timeouts are the handlers' (an upload that stalls: see
//! [`crate::UploadLimits::body_idle`]).

use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue};
use axum::Router;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls;

/// How connections are taken and held.
#[derive(Clone)]
pub struct Door {
    /// Time to send a request's head (and to start the next one).
    pub header_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long open connections may finish after shutdown begins.
    pub shutdown_deadline: Duration,
    /// TLS, when this process terminates it.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Door {
    /// Time for a request's head, unless set otherwise.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connections open at once, unless set otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    /// Time open requests get on stop, unless set otherwise.
    pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);
}

impl Default for Door {
    fn default() -> Door {
        Door {
            header_timeout: Door::DEFAULT_HEADER_TIMEOUT,
            max_connections: Door::DEFAULT_MAX_CONNECTIONS,
            shutdown_deadline: Door::DEFAULT_SHUTDOWN_DEADLINE,
            tls: None,
        }
    }
}

/// Largest request head.
const MAX_HEAD: usize = 64 * 1024;

/// How much of a body left unread by its answer is read and thrown away
/// before the connection is closed, so that the client can finish sending
/// and read the answer.
pub const LINGER_BYTES: u64 = 64 * 1024 * 1024;
/// How long that may take.
pub const LINGER_TIME: Duration = Duration::from_secs(10);

/// A TLS configuration from a PEM certificate chain and its PEM private
/// key. The error says which file is wrong, and how.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| {
            format!(
                "the certificate file {} cannot be read: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "the certificate file {} holds no certificate",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("the key file {} cannot be read: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS cannot be set up: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS identity: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` completes, then closes
/// as the module says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    door: Door,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(door.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut open: JoinSet<()> = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first: beyond the limit, clients wait in the backlog.
        let slot = tokio::select! {
            s = Arc::clone(&slots).acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        while open.try_join_next().is_some() {}
        let (router, door, stop) = (router.clone(), door.clone(), stop_rx.clone());
        open.spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            match &door.tls {
                None => connection(stream, addr, router, &door, stop).await,
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(config));
                    match tokio::time::timeout(door.header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, addr, router, &door, stop).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake too slow"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let finished = tokio::time::timeout(door.shutdown_deadline, async {
        while open.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            connections = open.len(),
            "connections still open at the shutdown deadline are closed"
        );
        open.shutdown().await;
    }
    Ok(())
}

/// A request's body that notes when it has been read to its end, and is
/// read to its end (within limits) if dropped before.
struct Watched {
    /// Always there until dropped.
    inner: Option<Incoming>,
    read: Arc<AtomicBool>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.read.load(Ordering::Acquire) {
            return;
        }
        let (Some(mut body), Ok(runtime)) =
            (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(async move {
            let mut thrown = 0u64;
            let _ = tokio::time::timeout(LINGER_TIME, async {
                while thrown < LINGER_BYTES {
                    match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                        Some(Ok(frame)) => {
                            thrown += frame.data_ref().map_or(0, |d| d.len() as u64);
                        }
                        _ => break,
                    }
                }
            })
            .await;
        });
    }
}

impl Watched {
    /// The request with its body watched, and the flag that is set once
    /// the body has been read to its end (at once for a request without
    /// one).
    fn wrap(req: hyper::Request<Incoming>) -> (hyper::Request<Watched>, Arc<AtomicBool>) {
        let (parts, inner) = req.into_parts();
        let read = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let body = Watched {
            inner: Some(inner),
            read: Arc::clone(&read),
        };
        (hyper::Request::from_parts(parts, body), read)
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        // The end is the stream's end, or the last byte of a body whose
        // length was given (a reader may stop there without asking again).
        if matches!(polled, Poll::Ready(None)) || inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

/// Serves HTTP/1.1 on one connection until the client closes it, a
/// timeout cuts it off, or shutdown asks it to finish.
async fn connection<S>(
    io: S,
    addr: SocketAddr,
    router: Router,
    door: &Door,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tower = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        let (req, read) = Watched::wrap(req);
        let answer = tower.call(req);
        async move {
            let mut res = answer.await?;
            if !read.load(Ordering::Acquire) {
                res.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(res)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(door.header_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_HEAD);
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        done = conn.as_mut() => {
            if let Err(e) = done {
                tracing::debug!(error = %e, "connection ended");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
