//! The frames of the local channel: a 4-byte big-endian length, then that many bytes of
//! JSON. JSON because everything that crosses is already `Serialize + Deserialize` for the
//! API, and a frame can be read by eye when debugging; the length lets a reader refuse an
//! oversized frame before reading it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::engine::delta::SnapshotDelta;
use crate::engine::ping::PingReply;
use crate::engine::{Command, Request, Response};

/// The largest frame either side accepts: a full snapshot of thousands of sets with a
/// 1,000-line log is a few MiB.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// What the engine sends a window.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub enum ToWindow {
    /// The first frame: who answers. A window refuses another wire version.
    Hello {
        wire_version: u16,
        /// The engine's program version (`standby --version`).
        program_version: String,
        /// The engine's process id (to tell the operator which process runs).
        pid: u32,
        /// The settings file the engine runs on.
        settings_path: std::path::PathBuf,
    },
    /// The next snapshot, as what changed since the one sent before (the first carries
    /// everything). A window that is slow to read gets fewer, larger deltas: the engine
    /// always sends the newest snapshot, never a queue of old ones.
    Delta(Box<SnapshotDelta>),
    /// The answer to the window's request `id`.
    Response { id: u64, response: Box<Response> },
    /// A reply of the pings the window started as `id` ([`ToEngine::Ping`]).
    PingReply { id: u64, reply: PingReply },
}

/// What a window sends the engine.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub enum ToEngine {
    Command(Command),
    /// A request; its answer comes back as [`ToWindow::Response`] with the same `id`.
    Request {
        id: u64,
        request: Box<Request>,
    },
    /// Ping `address` once a second from the engine's host (the Ping window); the replies
    /// come back as [`ToWindow::PingReply`] with this `id` until [`ToEngine::StopPing`].
    Ping {
        id: u64,
        address: std::net::IpAddr,
    },
    /// The Ping window `id` closed.
    StopPing {
        id: u64,
    },
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the other side closed the channel")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a frame of {0} bytes is larger than the {MAX_FRAME} allowed")]
    TooLarge(usize),
    #[error("an unreadable frame: {0}")]
    Json(#[from] serde_json::Error),
}

pub async fn write_frame<W, T>(writer: &mut W, message: &T) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(message)?;
    let length = u32::try_from(body.len())
        .ok()
        .filter(|n| (*n as usize) <= MAX_FRAME)
        .ok_or(FrameError::TooLarge(body.len()))?;
    writer.write_all(&length.to_be_bytes()).await?;
    writer.write_all(&body).await?;
    writer.flush().await?;
    Ok(())
}

pub async fn read_frame<R, T>(reader: &mut R) -> Result<T, FrameError>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(FrameError::TooLarge(length));
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_an_end_is_closed() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        let hello = ToWindow::Hello {
            wire_version: 1,
            program_version: "0.1.0".into(),
            pid: 7,
            settings_path: "/x/standby.ron".into(),
        };
        write_frame(&mut a, &hello).await.unwrap();
        drop(a);
        assert_eq!(read_frame::<_, ToWindow>(&mut b).await.unwrap(), hello);
        assert!(matches!(
            read_frame::<_, ToWindow>(&mut b).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_reading_the_body() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&(u32::MAX).to_be_bytes()).await.unwrap();
        assert!(matches!(
            read_frame::<_, ToWindow>(&mut b).await,
            Err(FrameError::TooLarge(n)) if n == u32::MAX as usize
        ));
    }

    #[tokio::test]
    async fn garbage_is_an_unreadable_frame() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&3u32.to_be_bytes()).await.unwrap();
        a.write_all(b"{{{").await.unwrap();
        assert!(matches!(
            read_frame::<_, ToWindow>(&mut b).await,
            Err(FrameError::Json(_))
        ));
    }
}
