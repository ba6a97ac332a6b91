//! The management route table. Each route is declared once, here, with the role it needs and
//! its documentation: the same list builds the router (each route behind its role check), the
//! OpenAPI document and [`ROUTES`], so the auth tests walk every route with every role and no
//! route can be undocumented or unguarded.

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post, put};
use gatehouse_model::entity::token::Role;

use crate::AppState;
use crate::auth::require_role;
use crate::handlers::{
    apis, audit, backends, certificates as certs, hostnames, policies, probe, tokens,
};
use crate::openapi;

/// A management route and what `GET /openapi.json` says of it.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{param}` placeholders.
    pub path: &'static str,
    /// The least role that may call it.
    pub role: Role,
    /// One line for people.
    pub summary: &'static str,
    /// Request body schema (a name in `components.schemas`), if the route takes a body.
    pub request: Option<&'static str>,
    /// Response body schema, if the answer has a JSON body.
    pub response: Option<&'static str>,
}

macro_rules! routes {
    ($($method:ident $path:literal => $handler:path, $role:ident, $summary:literal, $req:tt -> $resp:tt;)*) => {
        /// Every management route, with the role it needs.
        pub const ROUTES: &[Route] = &[$(Route {
            method: routes!(@upper $method),
            path: $path,
            role: Role::$role,
            summary: $summary,
            request: routes!(@schema $req),
            response: routes!(@schema $resp),
        }),*];

        /// Adds every management route to `router`.
        pub(crate) fn add(router: Router<AppState>) -> Router<AppState> {
            router $(.route(
                $path,
                $method($handler)
                    .layer(middleware::from_fn_with_state(Role::$role, require_role)),
            ))*
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
    get "/openapi.json" => openapi::serve, Reader,
        "This document", - -> -;
    get "/metrics" => crate::metrics, Reader,
        "Gateway metrics in Prometheus text format: requests by API, operation and status; latency; handshake failures by reason; pool connections; certificate expiry", - -> -;

    get "/tokens" => tokens::list_tokens, Admin,
        "List management tokens: name, role, who made it and when, expiry (never a value)", - -> TokenList;
    post "/tokens" => tokens::create_token, Admin,
        "Make a named token with a role (reader, operator, admin); its value is in this answer only", TokenCreate -> TokenCreated;
    get "/tokens/{tokenId}" => tokens::get_token, Admin,
        "Get a management token (never its value)", - -> Token;
    delete "/tokens/{tokenId}" => tokens::delete_token, Admin,
        "Revoke a token: refused from the next request on, its portal sessions end", - -> -;

    get "/auditEvents" => audit::list_events, Reader,
        "The audit trail: every change through any path, who made it (token or portal session, the refresher), from where, the entity, the operation and the revisions; newest first; $filter, $top, $skip", - -> AuditEventList;

    get "/certificates" => certs::list_certificates, Reader,
        "List client certificates", - -> CertificateList;
    get "/certificates/{certificateId}" => certs::get_certificate, Reader,
        "Get a client certificate", - -> Certificate;
    put "/certificates/{certificateId}" => certs::put_certificate, Operator,
        "Upload a client certificate (PKCS#12 or PEM); the password is checked now", CertificateCreate -> Certificate;
    delete "/certificates/{certificateId}" => certs::delete_certificate, Operator,
        "Delete a client certificate; 409 while referenced", - -> -;
    get "/certificates/{certificateId}/usages" => certs::certificate_usages, Reader,
        "Every API, operation, back end and policy that references the certificate", - -> UsageList;
    get "/certificates/{certificateId}/versions" => certs::certificate_versions, Reader,
        "The current version and the earlier ones kept (the last 5): version, thumbprint, subject, expiry, source, when it became active", - -> CertificateVersionList;
    post "/certificates/{certificateId}/refreshSecret" => certs::refresh_certificate, Operator,
        "Fetch a keyVault or file referenced certificate now (APIM's route); a failure is recorded in lastStatus", - -> Certificate;
    post "/certificates/{certificateId}/rollback" => certs::rollback_certificate, Operator,
        "Make an earlier version current again, as a new version (pools roll over as on upload)", CertificateRollback -> Certificate;

    get "/caCertificates" => certs::list_ca_certificates, Reader,
        "List CA certificates", - -> CaCertificateList;
    get "/caCertificates/{caCertificateId}" => certs::get_ca_certificate, Reader,
        "Get a CA certificate", - -> CaCertificate;
    put "/caCertificates/{caCertificateId}" => certs::put_ca_certificate, Operator,
        "Upload a CA certificate back ends may trust", CaCertificateCreate -> CaCertificate;
    delete "/caCertificates/{caCertificateId}" => certs::delete_ca_certificate, Operator,
        "Delete a CA certificate; 409 while a back end trusts it", - -> -;
    get "/caCertificates/{caCertificateId}/usages" => certs::ca_certificate_usages, Reader,
        "Back ends that trust the CA certificate", - -> UsageList;

    get "/backends" => backends::list_backends, Reader,
        "List back ends", - -> BackendList;
    get "/backends/{backendId}" => backends::get_backend, Reader,
        "Get a back end (secrets masked)", - -> Backend;
    put "/backends/{backendId}" => backends::put_backend, Operator,
        "Create or replace a back end", BackendCreate -> Backend;
    delete "/backends/{backendId}" => backends::delete_backend, Operator,
        "Delete a back end; 409 while a policy names it", - -> -;
    post "/backends/{backendId}/probe" => probe::probe_backend, Operator,
        "A real TLS handshake with the back end's settings (or {\"certificateId\"} to try another certificate): a diagnosis, no request sent", ProbeRequest -> ProbeReport;
    get "/backends/{backendId}/usages" => backends::backend_usages, Reader,
        "Policies and APIs that use the back end", - -> UsageList;

    get "/apis" => apis::list_apis, Reader,
        "List APIs", - -> ApiList;
    get "/apis/{apiId}" => apis::get_api, Reader,
        "Get an API", - -> Api;
    put "/apis/{apiId}" => apis::put_api, Operator,
        "Create or replace an API", ApiCreate -> Api;
    delete "/apis/{apiId}" => apis::delete_api, Operator,
        "Delete an API with its operations and policies", - -> -;
    post "/apis/{apiId}/probe" => probe::probe_api, Operator,
        "A real TLS handshake with the settings the API's calls use (or {\"certificateId\"} to try another certificate): a diagnosis, no request sent", ProbeRequest -> ProbeReport;
    get "/apis/{apiId}/operations" => apis::list_operations, Reader,
        "List an API's operations", - -> OperationList;
    get "/apis/{apiId}/operations/{operationId}" => apis::get_operation, Reader,
        "Get an operation", - -> Operation;
    put "/apis/{apiId}/operations/{operationId}" => apis::put_operation, Operator,
        "Create or replace an operation", OperationCreate -> Operation;
    delete "/apis/{apiId}/operations/{operationId}" => apis::delete_operation, Operator,
        "Delete an operation with its policy", - -> -;

    get "/policies/policy" => policies::get_global, Reader,
        "Get the global policy", - -> Policy;
    put "/policies/policy" => policies::put_global, Operator,
        "Set the global policy", PolicyCreate -> Policy;
    delete "/policies/policy" => policies::delete_global, Operator,
        "Remove the global policy", - -> -;
    get "/apis/{apiId}/policies/policy" => policies::get_api, Reader,
        "Get an API's policy", - -> Policy;
    put "/apis/{apiId}/policies/policy" => policies::put_api, Operator,
        "Set an API's policy", PolicyCreate -> Policy;
    delete "/apis/{apiId}/policies/policy" => policies::delete_api, Operator,
        "Remove an API's policy", - -> -;
    get "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::get_operation, Reader,
        "Get an operation's policy", - -> Policy;
    put "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::put_operation, Operator,
        "Set an operation's policy", PolicyCreate -> Policy;
    delete "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::delete_operation, Operator,
        "Remove an operation's policy", - -> -;

    get "/hostnameConfigurations" => hostnames::list_hostnames, Reader,
        "List the host names the gateway's TLS listener answers for", - -> HostnameList;
    get "/hostnameConfigurations/{hostnameId}" => hostnames::get_hostname, Reader,
        "Get a hostname configuration", - -> Hostname;
    put "/hostnameConfigurations/{hostnameId}" => hostnames::put_hostname, Admin,
        "Create or replace a hostname configuration: served from the next TLS handshake", HostnameCreate -> Hostname;
    delete "/hostnameConfigurations/{hostnameId}" => hostnames::delete_hostname, Admin,
        "Delete a hostname configuration", - -> -;

    get "/apis/{apiId}/gatewayCredentials" => policies::get_credentials, Reader,
        "The credentials the API presents to its back end, read from its policy", - -> GatewayCredentials;
    put "/apis/{apiId}/gatewayCredentials" => policies::put_credentials, Operator,
        "Set the API's credentials: edits the authentication element of its policy", GatewayCredentialsCreate -> GatewayCredentials;
}
