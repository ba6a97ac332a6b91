//! The management route table. Routes are declared once, here: the same list builds the router
//! and is exported as [`ROUTES`], so the auth test and the OpenAPI test walk every route and a
//! new one cannot be forgotten by either.

use axum::Router;
use axum::routing::{delete, get, put};

use crate::AppState;
use crate::handlers::{apis, backends, certificates as certs, policies};
use crate::openapi;

macro_rules! routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every management route as `(METHOD, path)`; all need the admin token.
        pub const ROUTES: &[(&str, &str)] = &[$((routes!(@upper $method), $path)),*];

        /// Adds every management route to `router`.
        pub(crate) fn add(router: Router<AppState>) -> Router<AppState> {
            router $(.route($path, $method($handler)))*
        }
    };
    (@upper get) => { "GET" };
    (@upper put) => { "PUT" };
    (@upper delete) => { "DELETE" };
}

routes! {
    get "/openapi.json" => openapi::serve,

    get "/certificates" => certs::list_certificates,
    get "/certificates/{certificateId}" => certs::get_certificate,
    put "/certificates/{certificateId}" => certs::put_certificate,
    delete "/certificates/{certificateId}" => certs::delete_certificate,
    get "/certificates/{certificateId}/usages" => certs::certificate_usages,

    get "/caCertificates" => certs::list_ca_certificates,
    get "/caCertificates/{caCertificateId}" => certs::get_ca_certificate,
    put "/caCertificates/{caCertificateId}" => certs::put_ca_certificate,
    delete "/caCertificates/{caCertificateId}" => certs::delete_ca_certificate,
    get "/caCertificates/{caCertificateId}/usages" => certs::ca_certificate_usages,

    get "/backends" => backends::list_backends,
    get "/backends/{backendId}" => backends::get_backend,
    put "/backends/{backendId}" => backends::put_backend,
    delete "/backends/{backendId}" => backends::delete_backend,
    get "/backends/{backendId}/usages" => backends::backend_usages,

    get "/apis" => apis::list_apis,
    get "/apis/{apiId}" => apis::get_api,
    put "/apis/{apiId}" => apis::put_api,
    delete "/apis/{apiId}" => apis::delete_api,
    get "/apis/{apiId}/operations" => apis::list_operations,
    get "/apis/{apiId}/operations/{operationId}" => apis::get_operation,
    put "/apis/{apiId}/operations/{operationId}" => apis::put_operation,
    delete "/apis/{apiId}/operations/{operationId}" => apis::delete_operation,

    get "/policies/policy" => policies::get_global,
    put "/policies/policy" => policies::put_global,
    delete "/policies/policy" => policies::delete_global,
    get "/apis/{apiId}/policies/policy" => policies::get_api,
    put "/apis/{apiId}/policies/policy" => policies::put_api,
    delete "/apis/{apiId}/policies/policy" => policies::delete_api,
    get "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::get_operation,
    put "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::put_operation,
    delete "/apis/{apiId}/operations/{operationId}/policies/policy" => policies::delete_operation,

    get "/apis/{apiId}/gatewayCredentials" => policies::get_credentials,
    put "/apis/{apiId}/gatewayCredentials" => policies::put_credentials,
}
