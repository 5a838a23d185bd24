//! The Promise face's view of a connection's bytes, as they cross the socket.
//!
//! hyper owns the connection and reports only whole responses, so the request needs a lower vantage for
//! two things: *when bytes last moved*, each way (the request's `timeout` is inactivity, and every byte
//! of progress resets it; undici's `headersTimeout` counts from the last byte sent, its `bodyTimeout`
//! from the last byte received), and *the response head exactly as received*, for what hyper
//! normalizes away (header case and order) and for naming a parse fault as Node's parser does. [`Wired`]
//! wraps the transport and records both into a [`Wire`] shared with the request.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Which bytes a deadline watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moved {
    Either,
    Read,
    Written,
}

/// What one connection's bytes did; shared by its transport and the request it serves.
pub struct Wire {
    epoch: Instant,
    /// When bytes were last read, and last written, in nanoseconds since `epoch`.
    read: AtomicU64,
    written: AtomicU64,
    /// A request body is still streaming from the caller (see [`Streaming`]).
    sending: AtomicBool,
    /// The last write found the connection full (the peer reads no more for now).
    blocked: AtomicBool,
    capturing: AtomicBool,
    head: Mutex<Vec<u8>>,
    /// Bytes kept of a response head at most: the parser's limit and its blank line.
    capture_max: usize,
}

impl Wire {
    pub fn new(capture_max: usize) -> Self {
        Wire {
            epoch: Instant::now(),
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            sending: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            capturing: AtomicBool::new(false),
            head: Mutex::new(Vec::new()),
            capture_max,
        }
    }

    fn head(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.head.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, moved: &AtomicU64) {
        let nanos = self.epoch.elapsed().as_nanos() as u64;
        moved.store(nanos, Ordering::Relaxed);
    }

    fn last_moved(&self, which: Moved) -> Instant {
        let nanos = match which {
            Moved::Read => self.read.load(Ordering::Relaxed),
            Moved::Written => self.written.load(Ordering::Relaxed),
            Moved::Either => self
                .read
                .load(Ordering::Relaxed)
                .max(self.written.load(Ordering::Relaxed)),
        };
        self.epoch + Duration::from_nanos(nanos)
    }

    /// Resolves once no byte of `which` has moved for `limit`, counting from now at the earliest. A
    /// request body still streaming counts as bytes being written while the connection takes them:
    /// undici's `headersTimeout` runs from the end of the request, however long its caller takes to
    /// produce it, but does run out while its socket needs draining (a server that reads nothing more).
    pub async fn quiet_for(&self, limit: Duration, which: Moved) {
        let start = Instant::now();
        loop {
            let at = self.last_moved(which).max(start) + limit;
            let now = Instant::now();
            if now >= at {
                let streaming =
                    self.sending.load(Ordering::Relaxed) && !self.blocked.load(Ordering::Relaxed);
                if which != Moved::Written || !streaming {
                    return;
                }
                tokio::time::sleep_until(now + limit).await;
                continue;
            }
            tokio::time::sleep_until(at).await;
        }
    }

    /// Marks a request body streaming over this wire until the returned guard is dropped.
    pub fn streaming(self: &std::sync::Arc<Self>) -> Streaming {
        self.sending.store(true, Ordering::Relaxed);
        Streaming(self.clone())
    }

    /// Starts keeping the bytes read, until [`Wire::take_head`]: the next response head is on its way.
    pub fn expect_head(&self) {
        self.head().clear();
        self.capturing.store(true, Ordering::Release);
    }

    /// The bytes read since [`Wire::expect_head`], up to the end of the final head once it came whole
    /// (else all of them); stops keeping them.
    pub fn take_head(&self) -> Vec<u8> {
        self.capturing.store(false, Ordering::Release);
        std::mem::take(&mut *self.head())
    }

    fn captured(&self, bytes: &[u8]) {
        if bytes.is_empty() || !self.capturing.load(Ordering::Acquire) {
            return;
        }
        let mut head = self.head();
        let room = self.capture_max.saturating_sub(head.len());
        // Kept a piece at a time, to the end of the head: a body that came in the same read (64 KiB
        // of it, say) is not copied too.
        for piece in bytes[..bytes.len().min(room)].chunks(HEAD_PIECE) {
            head.extend_from_slice(piece);
            if let Some(end) = final_head_end(&head) {
                head.truncate(end);
                self.capturing.store(false, Ordering::Release);
                return;
            }
        }
    }
}

/// How much of a read is kept before looking for the head's end: most heads fit in one piece.
const HEAD_PIECE: usize = 4096;

/// Where the final response head in `bytes` ends (after its blank line), once it is there whole;
/// informational heads (1xx but 101) before it are passed over, as hyper passes them.
fn final_head_end(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    loop {
        let blank = bytes[start..].windows(4).position(|w| w == b"\r\n\r\n")?;
        let end = start + blank + 4;
        // `HTTP/1.1 1xx`: the status starts at the 10th byte of the head.
        let status = bytes.get(start + 9..start + 12);
        if !matches!(status, Some([b'1', _, _])) || status == Some(b"101") {
            return Some(end);
        }
        start = end;
    }
}

/// Held while a request body streams from the caller over a [`Wire`]; dropped at its end (or when
/// the body is abandoned), which counts as the last byte written.
pub struct Streaming(std::sync::Arc<Wire>);

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.note(&self.0.written);
        self.0.sending.store(false, Ordering::Relaxed);
    }
}

/// A transport that reports to a [`Wire`].
pub struct Wired<T> {
    io: T,
    wire: std::sync::Arc<Wire>,
}

impl<T> Wired<T> {
    pub fn new(io: T, wire: std::sync::Arc<Wire>) -> Self {
        Wired { io, wire }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Wired<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                this.wire.note(&this.wire.read);
                this.wire.captured(read);
            }
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> Wired<T> {
    fn wrote(&self, result: &Poll<io::Result<usize>>) {
        if matches!(result, Poll::Ready(Ok(n)) if *n > 0) {
            self.wire.note(&self.wire.written);
        }
        self.wire
            .blocked
            .store(result.is_pending(), Ordering::Relaxed);
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Wired<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.wrote(&result);
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Progress postpones the deadline; silence lets it pass. Paused clock: no real waiting.
    #[tokio::test(start_paused = true)]
    async fn quiet_for_counts_from_the_last_byte() {
        let wire = Wire::new(16);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        wire.note(&wire.read);
        wire.quiet_for(Duration::from_millis(500), Moved::Either)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(800));
    }

    /// A deadline on one direction ignores the other: reads do not postpone `Written`.
    #[tokio::test(start_paused = true)]
    async fn quiet_for_watches_one_direction() {
        let wire = std::sync::Arc::new(Wire::new(16));
        let start = Instant::now();
        let reader = wire.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            reader.note(&reader.read);
        });
        wire.note(&wire.written);
        wire.quiet_for(Duration::from_millis(500), Moved::Written)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        wire.quiet_for(Duration::from_millis(100), Moved::Read)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(600));
    }

    /// While a request body streams, `Written` does not go quiet; it does `limit` after the body's end.
    #[tokio::test(start_paused = true)]
    async fn a_streaming_body_holds_off_written_quiet() {
        let wire = std::sync::Arc::new(Wire::new(16));
        let start = Instant::now();
        let streaming = wire.streaming();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            drop(streaming);
        });
        wire.quiet_for(Duration::from_millis(300), Moved::Written)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(1300));
    }

    /// A streaming body whose writes the peer stopped taking does not hold off `Written` quiet.
    #[tokio::test(start_paused = true)]
    async fn a_blocked_streaming_body_goes_quiet() {
        let wire = std::sync::Arc::new(Wire::new(16));
        let start = Instant::now();
        let _streaming = wire.streaming();
        wire.note(&wire.written);
        wire.blocked.store(true, Ordering::Relaxed);
        wire.quiet_for(Duration::from_millis(300), Moved::Written)
            .await;
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }

    #[test]
    fn keeps_only_what_was_read_while_expecting_a_head() {
        let wire = Wire::new(8);
        wire.captured(b"ignored");
        wire.expect_head();
        wire.captured(b"HTTP/1.1 ");
        wire.captured(b"more");
        assert_eq!(wire.take_head(), b"HTTP/1.1");
        wire.captured(b"after");
        assert!(wire.take_head().is_empty());
    }

    #[test]
    fn stops_keeping_at_the_end_of_the_final_head() {
        let wire = Wire::new(1024);
        wire.expect_head();
        wire.captured(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nX: ");
        wire.captured(b"y\r\n\r\nbody");
        wire.captured(b"more body");
        assert_eq!(
            wire.take_head(),
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nX: y\r\n\r\n"
        );
        wire.expect_head();
        wire.captured(b"HTTP/1.1 101 Switching Protocols\r\n\r\nframes");
        assert_eq!(
            wire.take_head(),
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n"
        );
    }
}
