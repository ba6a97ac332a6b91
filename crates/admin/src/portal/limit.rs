//! The rate limit on sign-in: a few failed attempts per client a minute, and a cap on failed
//! attempts from all clients together, so that many addresses cannot guess in parallel
//! either. Only `POST /login` pays for it; signed-in requests never touch it.
//!
//! Each attempt is counted before its token is checked (and given back when it signs in), so
//! a burst of parallel attempts cannot all slip in before the first failure is counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The window attempts are counted in.
const WINDOW: Duration = Duration::from_secs(60);
/// Failed attempts a client may make in a window.
const PER_CLIENT: u32 = 5;
/// Failed attempts all clients together may make in a window.
const GLOBAL: u32 = 30;
/// Clients tracked at most. Only counted attempts add clients, and the global cap bounds
/// those, so this is a backstop, never reached in a window's normal course.
const TRACKED: usize = 4 * GLOBAL as usize;

/// Counts of failed sign-ins per client (IPv6 clients per /64: one host has a whole one) and
/// in all, in fixed windows.
#[derive(Default)]
pub(crate) struct SignInLimiter {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    global: Window,
    clients: HashMap<IpAddr, Window>,
}

#[derive(Clone, Copy, Default)]
struct Window {
    started: Option<Instant>,
    count: u32,
}

impl Window {
    /// The count in the window that holds `now` (a window that has passed counts nothing).
    fn current(&mut self, now: Instant) -> &mut Self {
        if self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW)
        {
            *self = Self {
                started: Some(now),
                count: 0,
            };
        }
        self
    }

    fn over(&self, limit: u32, now: Instant) -> Option<Duration> {
        (self.count >= limit).then(|| self.remaining(now))
    }

    fn remaining(&self, now: Instant) -> Duration {
        self.started
            .map_or(WINDOW, |s| (s + WINDOW).saturating_duration_since(now))
    }

    fn expired(&self, now: Instant) -> bool {
        self.started
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW)
    }
}

/// The key a client is counted under.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

impl SignInLimiter {
    /// Counts an attempt of `client` before its token is checked; `Err` with how long to
    /// wait when the client, or everyone, has used up the window.
    pub(crate) fn attempt(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let key = client_key(client);
        if let Some(wait) = state
            .clients
            .get_mut(&key)
            .and_then(|w| w.current(now).over(PER_CLIENT, now))
        {
            return Err(wait);
        }
        if let Some(wait) = state.global.current(now).over(GLOBAL, now) {
            return Err(wait);
        }
        if !state.clients.contains_key(&key) && state.clients.len() >= TRACKED {
            state.clients.retain(|_, w| !w.expired(now));
            if state.clients.len() >= TRACKED {
                return Err(state.global.remaining(now));
            }
        }
        state.global.count += 1;
        state.clients.entry(key).or_default().current(now).count += 1;
        Ok(())
    }

    /// Gives back the attempt of a `client` that signed in: only failures count.
    pub(crate) fn succeeded(&self, client: IpAddr, now: Instant) {
        let mut state = self.state.lock();
        let global = state.global.current(now);
        global.count = global.count.saturating_sub(1);
        if let Some(w) = state.clients.get_mut(&client_key(client)) {
            let w = w.current(now);
            w.count = w.count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_client_gets_a_few_attempts_a_minute() {
        let limiter = SignInLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_CLIENT {
            limiter.attempt(ip("192.0.2.1"), t0).unwrap();
        }
        let wait = limiter
            .attempt(ip("192.0.2.1"), t0 + Duration::from_secs(20))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        // Others are not held up by one client's failures.
        limiter.attempt(ip("192.0.2.2"), t0).unwrap();
        // The next window starts afresh.
        limiter.attempt(ip("192.0.2.1"), t0 + WINDOW).unwrap();
    }

    #[test]
    fn successes_do_not_count() {
        let limiter = SignInLimiter::default();
        let t0 = Instant::now();
        for _ in 0..3 * PER_CLIENT {
            limiter.attempt(ip("192.0.2.1"), t0).unwrap();
            limiter.succeeded(ip("192.0.2.1"), t0);
        }
        for _ in 0..PER_CLIENT {
            limiter.attempt(ip("192.0.2.1"), t0).unwrap();
        }
        assert!(limiter.attempt(ip("192.0.2.1"), t0).is_err());
    }

    #[test]
    fn many_clients_together_are_capped() {
        let limiter = SignInLimiter::default();
        let t0 = Instant::now();
        for n in 0..GLOBAL {
            limiter
                .attempt(IpAddr::from([198, 51, 100, n as u8]), t0)
                .unwrap();
        }
        let wait = limiter
            .attempt(ip("203.0.113.9"), t0 + Duration::from_secs(1))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(59));
        assert!(limiter.attempt(ip("203.0.113.9"), t0 + WINDOW).is_ok());
    }

    #[test]
    fn an_ipv6_host_is_one_client_per_64() {
        let limiter = SignInLimiter::default();
        let t0 = Instant::now();
        for n in 0..PER_CLIENT {
            limiter
                .attempt(ip(&format!("2001:db8:1:2::{n:x}")), t0)
                .unwrap();
        }
        assert!(limiter.attempt(ip("2001:db8:1:2:ffff::1"), t0).is_err());
        assert!(limiter.attempt(ip("2001:db8:1:3::1"), t0).is_ok());
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn tracked_clients_stay_bounded() {
        let limiter = SignInLimiter::default();
        let mut now = Instant::now();
        for round in 0..20u32 {
            for n in 0..GLOBAL {
                let client = IpAddr::from(((round << 8) | n).to_be_bytes());
                limiter.attempt(client, now).unwrap();
            }
            now += WINDOW;
            assert!(limiter.state.lock().clients.len() <= TRACKED);
        }
    }
}
