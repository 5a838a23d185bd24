//! The one reader of a response's `Keep-Alive` header, for both faces.
//!
//! A server that says `Keep-Alive: timeout=N` closes the connection after N idle seconds; reusing it near
//! that moment races the close, so the pool keeps it idle a little less (Node's
//! `agentKeepAliveTimeoutBuffer`, [`crate::pool::PoolConfig::keep_alive_timeout_buffer`]). `max=N` counts
//! the requests the server will still take on the connection: `max=0` means none, so the connection is
//! not pooled.

use std::time::Duration;

/// What the header says of an idle connection: `None` nothing (the agent's deadline holds), `Some(ZERO)`
/// not to pool it, anything else the server's `timeout=` (the shortest, if several).
pub fn idle_for(header: &str) -> Option<Duration> {
    let mut deadline = None;
    for part in header.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        // Its leading digits, as Node and undici read it (`/timeout=(\d+)/`): `timeout=5s` is 5.
        let value = value.trim().trim_matches('"');
        let digits = value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len());
        let Ok(value) = value[..digits].parse::<u64>() else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("timeout") {
            let keep = Duration::from_secs(value);
            deadline = Some(deadline.map_or(keep, |d: Duration| d.min(keep)));
        } else if name.eq_ignore_ascii_case("max") && value == 0 {
            deadline = Some(Duration::ZERO);
        }
    }
    deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_and_max_in_any_order_and_case() {
        assert_eq!(idle_for("timeout=5"), Some(Duration::from_secs(5)));
        assert_eq!(idle_for("max=5, timeout=2"), Some(Duration::from_secs(2)));
        assert_eq!(
            idle_for("Max=100 , Timeout=3"),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            idle_for("timeout=3, timeout=1"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(idle_for("timeout=0"), Some(Duration::ZERO));
        assert_eq!(idle_for("timeout=10, max=0"), Some(Duration::ZERO));
        assert_eq!(idle_for("max=0, timeout=10"), Some(Duration::ZERO));
        assert_eq!(idle_for("max=7"), None);
        assert_eq!(idle_for("timeout=5s"), Some(Duration::from_secs(5)));
        assert_eq!(idle_for("timeout=1s"), Some(Duration::from_secs(1)));
        assert_eq!(idle_for("timeout=x, foo"), None);
        assert_eq!(idle_for(""), None);
    }
}
