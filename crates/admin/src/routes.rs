//! The management route table. Each route is declared once, here, with its documentation: the
//! same list builds the router, the OpenAPI document and [`ROUTES`], so the auth test walks
//! every route and no route can be undocumented.

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::AppState;
use crate::handlers::{apis, audit, backends, certificates as certs, hostnames, policies, probe};
use crate::openapi;

/// A management route and what `GET /openapi.json` says of it.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{param}` placeholders.
    pub path: &'static str,
    /// One line for people.
    pub summary: &'static str,
    /// Request body schema (a name in `components.schemas`), if the route takes a body.
    pub request: Option<&'static str>,
    /// Response body schema, if the answer has a JSON body.
    pub response: Option<&'static str>,
}

macro_rules! routes {
    ($($method:ident $path:literal => $handler:path, $summary:literal, $req:tt -> $resp:tt;)*) => {
        /// Every management route; all need the admin token.
        pub const ROUTES: &[Route] = &[$(Route {
            method: routes!(@upper $method),
            path: $path,
            summary: $summary,
            request: routes!(@schema $req),
            response: routes!(@schema $resp),
        }),*];

        /// Adds every management route to `router`.
        pub(crate) fn add(router: Router<AppState>) -> Router<AppState> {
            router $(.route($path, $method($handler)))*
        }
    };
    (@upper get) => { "GET" };
    (@upper put) => { "PUT" };
    (@upper delete) => { "DELETE" };
    (@upper post) => { "POST" };
    (@schema -) => { None };
    (@schema $name:ident) => { Some(stringify!($name)) };
}

routes! {
    get "/openapi.json" => openapi::serve,
        "This document", - -> -;
    get "/metrics" => crate::metrics,
        "Gateway metrics in Prometheus text format: requests by API, operation and status; latency; handshake failures by reason; pool connections; certificate expiry", - -> -;

    get "/auditEvents" => audit::list_events,
        "The audit trail: every change through any path, who made it (token or portal session, the refresher), from where, the entity, the operation and the revisions; newest first; $filter, $top, $skip", - -> AuditEventList;

    get "/certificates" => certs::list_certificates,
        "List client certificates", - -> CertificateList;
    get "/certificates/{certificateId}" => certs::get_certificate,
        "Get a client certificate", - -> Certificate;
    put "/certificates/{certificateId}" => certs::put_certificate,
        "Upload a client certificate (PKCS#12 or PEM); the password is checked now", CertificateCreate -> Certificate;
    delete "/certificates/{certificateId}" => certs::delete_certificate,
        "Delete a client certificate; 409 while referenced", - -> -;
    get "/certificates/{certificateId}/usages" => certs::certificate_usages,
        "Every API, operation, back end and policy that references the certificate", - -> UsageList;
    get "/certificates/{certificateId}/versions" => certs::certificate_versions,
        "The current version and the earlier ones kept (the last 5): version, thumbprint, subject, expiry, source, when it became active", - -> CertificateVersionList;
    post "/certificates/{certificateId}/refreshSecret" => certs::refresh_certificate,
        "Fetch a keyVault or file referenced certificate now (APIM's route); a failure is recorded in lastStatus", - -> Certificate;
    post "/certificates/{certificateId}/rollback" => certs::rollback_certificate,
        "Make an earlier version current again, as a new version (pools roll over as on upload)", CertificateRollback -> Certificate;

    get "/caCertificates" => certs::list_ca_certificates,
        "List CA certificates", - -> CaCertificateList;
    get "/caCertificates/{caCertificateId}" => certs::get_ca_certificate,
        "Get a CA certificate", - -> CaCertificate;
    put "/caCertificates/{caCertificateId}" => certs::put_ca_certificate,
        "Upload a CA certificate back ends may trust", CaCertificateCreate -> CaCertificate;
    delete "/caCertificates/{caCertificateId}" => certs::delete_ca_certificate,
        "Delete a CA certificate; 409 while a back end trusts it", - -> -;
    get "/caCertificates/{caCertificateId}/usages" => certs::ca_certificate_usages,
        "Back ends that trust the CA certificate", - -> UsageList;

    get "/backends" => backends::list_backends,
        "List back ends", - -> BackendList;
    get "/backends/{backendId}" => backends::get_backend,
        "Get a back end (secrets masked)", - -> Backend;
    put "/backends/{backendId}" => backends::put_backend,
        "Create or replace a back end", BackendCreate -> Backend;
    delete "/backends/{backendId}" => backends::delete_backend,
        "Delete a back end; 409 while a policy names it", - -> -;
    post "/backends/{backendId}/probe" => probe::probe_backend,
        "A real TLS handshake with the back end's settings (or {\"certificateId\"} to try another certificate): a diagnosis, no request sent", ProbeRequest -> ProbeReport;
    get "/backends/{backendId}/usages" => backends::backend_usages,
        "Policies and APIs that use the back end", - -> UsageList;

    get "/apis" => apis::list_apis,
        "List APIs", - -> ApiList;
    get "/apis/{apiId}" => apis::get_api,
        "Get an API", - -> Api;
    put "/apis/{apiId}" => apis::put_api,
        "Create or replace an API", ApiCreate -> Api;
    delete "/apis/{apiId}" => apis::delete_api,
        "Delete an API with its operations and policies", - -> -;
    post "/apis/{apiId}/probe" => probe::probe_api,
        "A real TLS handshake with the settings the API's calls use (or {\"certificateId\"} to try another certificate): a diagnosis, no request sent", ProbeRequest -> ProbeReport;
    get "/apis/{apiId}/operations" => apis::list_operations,
        "List an API's operations", - -> OperationList;
    get "/apis/{apiId}/operations/{operationId}" => apis::get_operation,
        "Get an operation", - -> Operation;
    put "/apis/{apiId}/operations/{operationId}" => apis::put_operation,
        "Create or replace an operation", OperationCreate -> Operation;
    delete "/apis/{apiId}/operations/{operationId}" => apis::delete_operation,
        "Delete an operation with its policy", - -> -;

    get "/policies/policy" => policies::get_global,
        "Get the global policy", - -> Policy;
    put "/policies/policy" => policies::put_global,
        "Set the global policy", PolicyCreate -> Policy;
    delete "/policies/policy" => policies::delete_global,
        "Remove the global policy", - -> -;
    get "/apis/{apiId}/policies/policy" => policies::get_api,
        "Get an API's policy", - -> Policy;
    put "/apis/{apiId}/policies/policy" => policies::put_api,
        "Set an API's policy", PolicyCreate -> Policy;
    delete "/apis/{apiId}/policies/policy" => policies::delete_api,
        "Remove an API's policy", - -> -;
    get "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::get_operation,
        "Get an operation's policy", - -> Policy;
    put "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::put_operation,
        "Set an operation's policy", PolicyCreate -> Policy;
    delete "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::delete_operation,
        "Remove an operation's policy", - -> -;

    get "/hostnameConfigurations" => hostnames::list_hostnames,
        "List the host names the gateway's TLS listener answers for", - -> HostnameList;
    get "/hostnameConfigurations/{hostnameId}" => hostnames::get_hostname,
        "Get a hostname configuration", - -> Hostname;
    put "/hostnameConfigurations/{hostnameId}" => hostnames::put_hostname,
        "Create or replace a hostname configuration: served from the next TLS handshake", HostnameCreate -> Hostname;
    delete "/hostnameConfigurations/{hostnameId}" => hostnames::delete_hostname,
        "Delete a hostname configuration", - -> -;

    get "/apis/{apiId}/gatewayCredentials" => policies::get_credentials,
        "The credentials the API presents to its back end, read from its policy", - -> GatewayCredentials;
    put "/apis/{apiId}/gatewayCredentials" => policies::put_credentials,
        "Set the API's credentials: edits the authentication element of its policy", GatewayCredentialsCreate -> GatewayCredentials;
}
