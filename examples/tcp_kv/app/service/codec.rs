//! Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes of
//! JSON. Written against tokio's `AsyncRead`/`AsyncWrite` traits alone (no `io-util`), so it
//! works on any stream either runtime hands out.
use super::rt::{AsyncRead, AsyncWrite};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use tokio::io::ReadBuf;

/// Frames larger than this are refused: a corrupt length must not allocate gigabytes.
pub const MAX_FRAME: usize = 16 << 20;

/// Writes one frame and flushes it.
pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    let mut sent = 0;
    while sent < frame.len() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, &frame[sent..])).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        sent += n;
    }
    poll_fn(|cx| Pin::new(&mut *w).poll_flush(cx)).await
}

/// Reads one frame. A stream closed by the peer is `UnexpectedEof`.
pub async fn read_frame<R, T>(r: &mut R) -> io::Result<T>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    read_exact(r, &mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let mut body = vec![0u8; len];
    read_exact(r, &mut body).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn read_exact<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf[filled..]);
            Pin::new(&mut *r)
                .poll_read(cx, &mut rb)
                .map_ok(|()| rb.filled().len())
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
    }
    Ok(())
}
