//! Who changed what, when, and from where: the audit trail's vocabulary. Never a secret: an
//! event names the entity and the operation, not its contents.

use time::OffsetDateTime;

/// Who makes a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Which credential, by name: `admin token`, `portal session 3f2a…`, `secret refresher`.
    pub name: String,
    /// Through which path: `api`, `portal`, `refresher`, `system`.
    pub via: String,
    /// From where: the client's address, when there is one.
    pub address: Option<String>,
}

impl Actor {
    /// The process itself (start-up, a test, a tool with no caller).
    pub fn system() -> Self {
        Self {
            name: "system".into(),
            via: "system".into(),
            address: None,
        }
    }
}

tokio::task_local! {
    /// The actor of the request or job running on this task: set once where a request is
    /// authenticated, read where a change begins, so no handler has to pass it along.
    pub static ACTOR: Actor;
}

/// The actor of the current task, or [`Actor::system`].
pub fn current_actor() -> Actor {
    ACTOR
        .try_with(Clone::clone)
        .unwrap_or_else(|_| Actor::system())
}

/// One change to one entity, as the audit trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its number: later events have larger ones.
    pub id: i64,
    /// When it was committed.
    pub at: OffsetDateTime,
    /// Who.
    pub actor: String,
    /// Through which path.
    pub via: String,
    /// From where.
    pub address: Option<String>,
    /// Entity kind (`certificate`, `api`, ...).
    pub kind: String,
    /// Entity key.
    pub key: String,
    /// `create`, `update` or `delete`.
    pub operation: String,
    /// The configuration revision before the change.
    pub revision_before: u64,
    /// The revision the change made.
    pub revision_after: u64,
}
