//! Panics turned into errors at the edge of the binding, so that a bug settles the request it hit (with
//! `ERR_INTERNAL_ASSERTION`) instead of stranding it or taking the process down. N-API entries use
//! napi's own `catch_unwind`; this does the same for the futures the binding spawns.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, Kind};

/// A future whose panic becomes an [`Error`]. After a panic the inner future is never polled again;
/// dropping it releases what it held (a lease, a slot), so the pool's counts stay right.
pub struct CatchUnwind<F> {
    inner: F,
}

impl<F: Future> CatchUnwind<F> {
    pub fn new(inner: F) -> Self {
        CatchUnwind { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => Poll::Ready(Err(panicked(panic))),
        }
    }
}

pub fn panicked(panic: Box<dyn Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Error::new(
        Kind::Internal,
        format!("keepalive-agent hit a bug (a Rust panic): {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error() {
        let held = std::sync::Arc::new(());
        let holder = held.clone();
        let failed = CatchUnwind::new(async move {
            let _holder = holder;
            tokio::task::yield_now().await;
            panic!("boom");
        })
        .await;
        let error = failed.expect_err("the panic is an error");
        assert_eq!(error.code(), "ERR_INTERNAL_ASSERTION");
        assert!(error.message().ends_with("boom"), "{}", error.message());
        // What the future held was released on the way out.
        assert_eq!(std::sync::Arc::strong_count(&held), 1);
        assert_eq!(CatchUnwind::new(async { 7 }).await.unwrap(), 7);
    }
}
