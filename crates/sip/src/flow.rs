//! The connection an account's signalling travels over (tokio side): a UDP socket connected to
//! the server, or a TCP stream — plain or TLS — whose messages are framed by Content-Length.
//! Requests from the server (an incoming INVITE) come back over the same flow: on UDP to the
//! address the server saw, on TCP/TLS over the connection we opened (RFC 3261 §18.2.2).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpStream, UdpSocket};

use crate::message::{Limits, Message};

/// How signalling travels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// The Via token.
    pub fn token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport retransmits for us (no Timer A/E, RFC 3261 §17.1.1.2).
    pub fn reliable(self) -> bool {
        self != Transport::Udp
    }

    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }
}

/// Certificates to trust for TLS besides the public roots (a PBX with its own CA; tests).
#[derive(Clone, Default)]
pub struct TlsTrust {
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

/// Why certificates to trust could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    #[error("no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)")]
    Empty,
    #[error("a certificate in it is malformed: {0}")]
    Malformed(String),
}

impl TlsTrust {
    /// The certificates of a PEM text (a private CA's, one or several).
    pub fn from_pem(pem: &[u8]) -> Result<TlsTrust, TrustError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let extra_roots = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrustError::Malformed(format!("{e:?}")))?;
        if extra_roots.is_empty() {
            return Err(TrustError::Empty);
        }
        Ok(TlsTrust { extra_roots })
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Kind {
    /// The socket and the buffer every datagram is read into (allocated once, not per read).
    Udp(UdpSocket, Vec<u8>),
    Stream {
        reader: ReadHalf<Box<dyn Stream>>,
        writer: WriteHalf<Box<dyn Stream>>,
        buf: Vec<u8>,
    },
}

pub struct Flow {
    kind: Kind,
    local: SocketAddr,
    limits: Limits,
}

/// What arrived: a datagram (parsed by whoever handles it, so a bad one can still be answered
/// 400), or a message already cut out of a stream.
pub enum Received {
    Datagram(Vec<u8>),
    Message(Message),
}

impl Flow {
    /// Connects to `server`; `host` is the name TLS checks the certificate against.
    pub async fn connect(
        transport: Transport,
        server: SocketAddr,
        host: &str,
        trust: &TlsTrust,
    ) -> io::Result<Flow> {
        let limits = Limits::default();
        match transport {
            Transport::Udp => {
                let socket = crate::driver::connect_udp(server).await?;
                let local = socket.local_addr()?;
                Ok(Flow {
                    kind: Kind::Udp(socket, vec![0u8; limits.max_message + 1]),
                    local,
                    limits,
                })
            }
            Transport::Tcp | Transport::Tls => {
                let tcp = TcpStream::connect(server).await?;
                tcp.set_nodelay(true)?;
                let local = tcp.local_addr()?;
                let stream: Box<dyn Stream> = if transport == Transport::Tls {
                    Box::new(tls_connect(tcp, host, trust).await?)
                } else {
                    Box::new(tcp)
                };
                let (reader, writer) = tokio::io::split(stream);
                Ok(Flow {
                    kind: Kind::Stream {
                        reader,
                        writer,
                        buf: Vec::new(),
                    },
                    local,
                    limits,
                })
            }
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream { .. })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            Kind::Udp(socket, _) => socket.send(bytes).await.map(|_| ()),
            Kind::Stream { writer, .. } => {
                writer.write_all(bytes).await?;
                writer.flush().await
            }
        }
    }

    /// The next message. Cancel-safe: a read that completes is buffered before anything else
    /// awaits. A stream that breaks its framing is an error — the connection cannot recover.
    pub async fn recv(&mut self) -> io::Result<Received> {
        match &mut self.kind {
            Kind::Udp(socket, buf) => {
                let n = socket.recv(buf).await?;
                Ok(Received::Datagram(
                    buf.get(..n).unwrap_or_default().to_vec(),
                ))
            }
            Kind::Stream { reader, buf, .. } => loop {
                match Message::parse_stream(buf, &self.limits) {
                    Ok(Some((message, used))) => {
                        buf.drain(..used);
                        return Ok(Received::Message(message));
                    }
                    Ok(None) => {}
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
                let mut chunk = [0u8; 8192];
                let n = reader.read(&mut chunk).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
            },
        }
    }
}

async fn tls_connect(
    tcp: TcpStream,
    host: &str,
    trust: &TlsTrust,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in &trust.extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIUPTigbrJfyCkX5FKja+5wXoB4OjUwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQUmluZ2Rlc2sgdGVzdCBDQTAgFw0yNjEyMDYwOTA1MjNaGA8y
MTI2MTExMjA5MDUyM1owGzEZMBcGA1UEAwwQUmluZ2Rlc2sgdGVzdCBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABH7ttHy8JKvdkxQVHaKXzUz5t+3EwQu+TQDR
QX8ttTDZddhXd1GQQ3UgM5aOXAJDZ0NrRlXv7SxnzaryiBuawXOjUzBRMB0GA1Ud
DgQWBBSIU0DvI/IXnAjHil1hSeRAIQh+ejAfBgNVHSMEGDAWgBSIU0DvI/IXnAjH
il1hSeRAIQh+ejAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIDIh
eOddPiY0jtHWKJ6zrD7MS5En1HEWCaMCGjrTGIRyAiBSNlx34G4+K2yem/+nL+fX
4rqiFe16ziBL1pxlp0MKGw==
-----END CERTIFICATE-----
";

    #[test]
    fn trusted_certificates_come_from_pem() {
        let trust = TlsTrust::from_pem(format!("{CA}{CA}").as_bytes()).unwrap();
        assert_eq!(trust.extra_roots.len(), 2);
        assert_eq!(TlsTrust::from_pem(b"").err(), Some(TrustError::Empty));
        assert_eq!(
            TlsTrust::from_pem(b"just text").err(),
            Some(TrustError::Empty)
        );
        let broken = CA.replace("MIIBjDCC", "M!!BjDCC");
        assert!(matches!(
            TlsTrust::from_pem(broken.as_bytes()),
            Err(TrustError::Malformed(_))
        ));
    }
}
