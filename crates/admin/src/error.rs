//! The management API's one error type, and its one mapping to HTTP responses.

use axum::Json;
use axum::response::{IntoResponse, Response};
use gatehouse_control::ControlError;
use gatehouse_model::entity::token::Role;
use gatehouse_model::{Detail, ModelError};
use gatehouse_store::{DiskTrouble, StoreError};
use http::StatusCode;
use serde_json::{Value, json};

/// An error answer: `{"error":{"code","message","details"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
    /// Each problem, with where it is.
    pub details: Vec<Detail>,
    /// A pre-flight probe's diagnosis, when a probe is why the change was refused.
    pub probe: Option<Value>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            probe: None,
        }
    }

    /// 401: the same answer for a missing and a wrong token, so neither is confirmed.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send a management token as 'Authorization: Bearer <token>'",
        )
    }

    /// 403: the token is known but its role does not reach the route's.
    pub(crate) fn forbidden(name: &str, role: Role, needed: Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "this needs the {needed} role; the token '{name}' is a {role} (an admin can make a token with POST /tokens)"
            ),
        )
    }

    /// 500: a fault of the server, logged where it happened; the caller learns nothing more.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the server failed and nothing was changed; see the server log",
        )
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "no management route has this path; see GET /openapi.json",
        )
    }

    /// 428: deletes must say which version they remove.
    pub fn if_match_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "IfMatchRequired",
            "send an If-Match header with the entity's ETag (or * to delete whatever version is \
             current)",
        )
    }

    /// 412: the entity changed since the caller read it.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "the entity has changed (or does not exist) since the ETag in If-Match; read it \
             again and retry",
        )
    }

    /// 413 for a request body over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 400 for a body that is not what the route takes.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        let status = match &e {
            ModelError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ModelError::NotFound { .. } => StatusCode::NOT_FOUND,
            ModelError::Conflict { .. } => StatusCode::CONFLICT,
            ModelError::Internal { message } => {
                tracing::error!(error = %message, "internal error");
                return Self::internal();
            }
        };
        Self {
            status,
            code: e.code().to_string(),
            message: e.to_string(),
            details: e.details().to_vec(),
            probe: None,
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Model(e) => e.into(),
            ControlError::Store(e) => e.into(),
            ControlError::NotPublished(e) => {
                tracing::error!(error = %e, "a committed change is not served");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "GatewayNotUpdated",
                    format!(
                        "the change is saved as revision {}, but this node's gateway failed to \
                         take it and still serves revision {}; see the server log",
                        e.revision, e.serving
                    ),
                )
            }
            ControlError::Internal => Self::internal(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "ConcurrentChange",
                "another change was committed at the same time; retry",
            ),
            other if other.disk_trouble() == Some(DiskTrouble::Full) => {
                tracing::error!(error = %ErrorChain(&other), "the configuration store's disk is full");
                Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "InsufficientStorage",
                    "the disk holding the configuration store is full; nothing was changed. \
                     Free space there and retry; the gateway keeps serving the last configuration",
                )
            }
            other if other.disk_trouble() == Some(DiskTrouble::ReadOnly) => {
                tracing::error!(error = %ErrorChain(&other), "the configuration store is read-only");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StoreReadOnly",
                    "the configuration store cannot be written (a read-only disk or data \
                     directory); nothing was changed. Make it writable and retry; the gateway \
                     keeps serving the last configuration",
                )
            }
            other => {
                tracing::error!(error = %ErrorChain(&other), "configuration store failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "StoreUnavailable",
                    "the configuration store failed and nothing was changed; see the server log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error =
            json!({"code": self.code, "message": self.message, "details": self.details});
        if let Some(probe) = self.probe {
            error["probe"] = probe;
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Displays an error with its sources, `a: b: c`, for the log.
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}
