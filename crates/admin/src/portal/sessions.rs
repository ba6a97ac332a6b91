//! Signed-in sessions, in memory: a restart signs everyone out. A session ends after an hour
//! without a request, and twelve hours after sign-in however busy it is, so a stolen cookie
//! or an unattended browser does not stay signed in for good.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::limit::SignInLimiter;
use crate::auth::random_hex;

/// Sessions end after this much inactivity.
pub(crate) const IDLE: Duration = Duration::from_secs(3600);
/// Sessions end this long after sign-in, active or not.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; signing in beyond ends the least recently used one.
const KEPT: usize = 256;
/// Sessions one token keeps at most; signing in beyond ends that token's least recently used
/// one, so that no token (a reader's) can push other people's sessions out.
const PER_TOKEN: usize = 16;

/// The portal's signed-in sessions, and the count of sign-in attempts that open them.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Failed sign-ins per client and in all, for the rate limit.
    pub(crate) sign_in: SignInLimiter,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions(..)")
    }
}

struct Session {
    csrf: String,
    /// SHA-256 of the token signed in with: every request finds the token again by it, so a
    /// revoked token's sessions end with it.
    token_hash: [u8; 32],
    /// A name for the audit trail that reveals nothing of the cookie.
    label: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < IDLE
            && now.saturating_duration_since(self.created) < LIFETIME
    }
}

/// The signed-in session of a request, for templates.
#[derive(Clone)]
pub(crate) struct Signed {
    pub(crate) csrf: String,
    /// The session's name in the audit trail (not the cookie).
    pub(crate) label: String,
    /// SHA-256 of the token signed in with.
    pub(crate) token_hash: [u8; 32],
    /// The token's name and role, as of this request (set when the token is found again).
    pub(crate) token: String,
    /// What the session may do: its token's role.
    pub(crate) role: gatehouse_model::entity::token::Role,
}

impl Sessions {
    /// Opens a session for the token with `token_hash`: its id (the cookie) and CSRF token.
    /// Ended sessions are dropped here.
    pub(crate) fn open(&self, token_hash: [u8; 32]) -> Option<(String, String)> {
        self.open_at(Instant::now(), token_hash)
    }

    fn open_at(&self, now: Instant, token_hash: [u8; 32]) -> Option<(String, String)> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let label = random_hex(4)?;
        let mut map = self.map.lock();
        map.retain(|_, s| s.live(now));
        let own = map.values().filter(|s| s.token_hash == token_hash).count();
        // The token's own oldest session makes room first; the oldest of all only when the
        // token has few and everyone together has too many.
        let evict = if own >= PER_TOKEN {
            map.iter()
                .filter(|(_, s)| s.token_hash == token_hash)
                .min_by_key(|(_, s)| s.last_seen)
        } else if map.len() >= KEPT {
            map.iter().min_by_key(|(_, s)| s.last_seen)
        } else {
            None
        }
        .map(|(id, _)| id.clone());
        if let Some(oldest) = evict {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                token_hash,
                label,
                created: now,
                last_seen: now,
            },
        );
        Some((id, csrf))
    }

    /// The session with cookie `id`, if it is live; marks it used. An ended one is removed.
    pub(crate) fn touch(&self, id: &str) -> Option<Signed> {
        self.touch_at(id, Instant::now())
    }

    fn touch_at(&self, id: &str, now: Instant) -> Option<Signed> {
        let mut map = self.map.lock();
        let session = map.get_mut(id)?;
        if !session.live(now) {
            map.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(Signed {
            csrf: session.csrf.clone(),
            label: session.label.clone(),
            token_hash: session.token_hash,
            token: String::new(),
            role: gatehouse_model::entity::token::Role::Reader,
        })
    }

    /// Ends the session with cookie `id` (sign-out).
    pub(crate) fn close(&self, id: &str) {
        let mut map = self.map.lock();
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(sessions: &Sessions) -> usize {
        sessions.map.lock().len()
    }

    #[test]
    fn a_session_ends_after_an_idle_hour() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (id, csrf) = sessions.open_at(t0, [7; 32]).unwrap();
        let later = t0 + IDLE - Duration::from_secs(1);
        assert_eq!(sessions.touch_at(&id, later).unwrap().csrf, csrf);
        // Use moved the idle clock on.
        assert!(sessions.touch_at(&id, later + IDLE / 2).is_some());
        assert!(sessions.touch_at(&id, later + IDLE / 2 + IDLE).is_none());
        assert_eq!(len(&sessions), 0, "the ended session was removed");
        assert!(sessions.touch_at(&id, later).is_none(), "and stays ended");
    }

    #[test]
    fn a_busy_session_still_ends_twelve_hours_after_sign_in() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (id, _) = sessions.open_at(t0, [7; 32]).unwrap();
        let step = IDLE - Duration::from_secs(60);
        let mut now = t0;
        while now + step < t0 + LIFETIME {
            now += step;
            assert!(sessions.touch_at(&id, now).is_some(), "{:?}", now - t0);
        }
        assert!(sessions.touch_at(&id, t0 + LIFETIME).is_none());
        assert_eq!(len(&sessions), 0);
    }

    #[test]
    fn signing_in_drops_ended_sessions_and_keeps_a_bounded_number() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        for _ in 0..10 {
            sessions.open_at(t0, [7; 32]).unwrap();
        }
        let (fresh, _) = sessions.open_at(t0 + IDLE, [7; 32]).unwrap();
        assert_eq!(len(&sessions), 1, "the idle ones went");
        assert!(sessions.touch_at(&fresh, t0 + IDLE).is_some());

        let t1 = t0 + IDLE + Duration::from_secs(1);
        for n in 0..KEPT + 5 {
            // Many tokens, a few sessions each.
            let token = [u8::try_from(n % 64).unwrap(); 32];
            sessions
                .open_at(t1 + Duration::from_millis(n as u64), token)
                .unwrap();
        }
        assert_eq!(len(&sessions), KEPT);
        assert!(
            sessions.touch_at(&fresh, t1).is_none(),
            "the least recently used session made room"
        );
    }

    #[test]
    fn one_token_cannot_push_out_other_tokens_sessions() {
        let sessions = Sessions::default();
        let t0 = Instant::now();
        let (admin, _) = sessions.open_at(t0, [1; 32]).unwrap();
        for n in 0..KEPT * 2 {
            sessions
                .open_at(t0 + Duration::from_millis(n as u64 + 1), [2; 32])
                .unwrap();
        }
        assert_eq!(len(&sessions), 1 + PER_TOKEN);
        assert!(
            sessions
                .touch_at(&admin, t0 + Duration::from_secs(1))
                .is_some()
        );
    }

    #[test]
    fn sign_out_ends_the_session() {
        let sessions = Sessions::default();
        let (id, _) = sessions.open([7; 32]).unwrap();
        assert!(sessions.touch(&id).is_some());
        sessions.close(&id);
        assert!(sessions.touch(&id).is_none());
    }
}
