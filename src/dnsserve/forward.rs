//! Forwarding queries that are not for our names to another DNS server.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a query could not be forwarded (logged; the client gets SERVFAIL).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("query shorter than a DNS header")]
    ShortQuery,
    #[error("query too long for TCP")]
    LongQuery,
    #[error("cannot resolve {server}: {source}")]
    Resolve {
        server: String,
        source: std::io::Error,
    },
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("no answer in {} s", FORWARD_TIMEOUT.as_secs())]
    Timeout,
    #[error("the answer does not belong to the query")]
    NotOurs,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Sends `query` to `server:port` and returns its answer. With `clear_recursion`, RD is
/// cleared in the query and RA in the answer (the header's flag bits, in place).
pub async fn forward(
    query: &[u8],
    server: &str,
    port: u16,
    clear_recursion: bool,
    over_tcp: bool,
) -> Result<Vec<u8>, ForwardError> {
    if query.len() < 12 {
        return Err(ForwardError::ShortQuery);
    }
    let address = resolve(server, port).await?;
    let mut query = query.to_vec();
    if clear_recursion {
        query[2] &= !0x01; // RD
    }
    let exchange = async {
        if over_tcp {
            tcp_exchange(address, &query).await
        } else {
            udp_exchange(address, &query).await
        }
    };
    let mut answer = tokio::time::timeout(FORWARD_TIMEOUT, exchange)
        .await
        .map_err(|_| ForwardError::Timeout)??;
    if answer.len() < 12 || answer[..2] != query[..2] {
        return Err(ForwardError::NotOurs);
    }
    if clear_recursion {
        answer[3] &= !0x80; // RA
    }
    Ok(answer)
}

async fn resolve(server: &str, port: u16) -> Result<SocketAddr, ForwardError> {
    if let Ok(ip) = server.trim().parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    let ascii = crate::model::idn::ascii_or_same(server.trim());
    tokio::net::lookup_host((ascii.as_str(), port))
        .await
        .map_err(|source| ForwardError::Resolve {
            server: server.to_string(),
            source,
        })?
        .next()
        .ok_or_else(|| ForwardError::NoAddress(server.to_string()))
}

async fn udp_exchange(address: SocketAddr, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let bind: SocketAddr = if address.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).await?;
    socket.send_to(query, address).await?;
    // The largest UDP message: an upstream may answer a client's large EDNS size, and a
    // smaller buffer would cut its answer (the caller cuts it to the client's size).
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        // Only the server we asked may answer.
        if from == address {
            return Ok(buf[..n].to_vec());
        }
    }
}

async fn tcp_exchange(address: SocketAddr, query: &[u8]) -> Result<Vec<u8>, ForwardError> {
    let mut stream = TcpStream::connect(address).await?;
    let len = u16::try_from(query.len()).map_err(|_| ForwardError::LongQuery)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(query).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}
