//! Headers on every answer of the admin listener that tell a browser what it may do with it.
//! Any page the browser shows, including a back end's HTML relayed by the gateway on the same
//! host, could otherwise frame the signed-in portal (clickjacking), have a JSON answer sniffed
//! as HTML, or leave the portal's URLs in a `Referer`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};

use crate::portal;

/// The portal's pages: scripts, styles and requests from the listener itself only (no inline
/// script or style: the pages have none), never framed, forms posted only to it.
pub(crate) const PORTAL_CSP: &str = "default-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'; object-src 'none'";

/// The management API answers data, never a document: nothing loads, nothing frames it.
pub(crate) const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the headers. `Cache-Control: no-store` goes on every answer that sets no caching of
/// its own (the static assets do): pages and API answers hold configuration.
pub(crate) async fn add(request: Request, next: Next) -> Response {
    let csp = if portal::owns(request.uri().path()) {
        PORTAL_CSP
    } else {
        API_CSP
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
