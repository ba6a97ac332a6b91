//! `GET /openapi.json`: the management API described for people and tools.
//!
//! Built from [`crate::routes::ROUTES`], where each route is declared with its summary and
//! schemas, so the document cannot fall behind the router.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::routes::{ROUTES, Route};

fn entity(properties: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "name": {"type": "string"},
            "properties": properties
        }
    })
}

fn create(properties: Value) -> Value {
    json!({"type": "object", "required": ["properties"], "properties": {"properties": properties}})
}

/// A list whose items are not an entity of their own.
fn list_of_inline(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {"value": {"type": "array", "items": item}, "count": {"type": "integer"}}
    })
}

fn list_of(item: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "value": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
            "count": {"type": "integer"}
        }
    })
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let date = json!({"type": "string", "format": "date-time"});
    let cert_facts = json!({
        "subject": string, "issuer": string,
        "thumbprint": {"type": "string", "description": "SHA-1 of the DER, 40 upper-case hex"},
        "serialNumber": string, "notBefore": date, "expirationDate": date,
        "keyAlgorithm": string, "selfSigned": {"type": "boolean"},
        "subjectAlternativeNames": strings
    });
    let mut cert_props = cert_facts.clone();
    if let Some(m) = cert_props.as_object_mut() {
        m.insert(
            "format".into(),
            json!({"type": "string", "enum": ["pkcs12", "pem"]}),
        );
        m.insert("encryption".into(), string.clone());
        m.insert("legacyEncryption".into(), json!({"type": "boolean"}));
        m.insert("chainLength".into(), json!({"type": "integer"}));
        m.insert("version".into(), json!({"type": "integer"}));
        m.insert(
            "source".into(),
            json!({"type": "string", "enum": ["upload", "file", "keyVault", "rollback"]}),
        );
        m.insert("uploaded".into(), date.clone());
        m.insert("versionsKept".into(), json!({"type": "integer"}));
        let status = json!({"type": "object", "properties": {
            "code": string, "message": string, "timeStampUtc": date}});
        m.insert(
            "keyVault".into(),
            json!({"type": "object", "properties": {
                "secretIdentifier": string, "identityClientId": string, "lastStatus": status}}),
        );
        m.insert(
            "file".into(),
            json!({"type": "object", "properties": {
                "path": string, "keyPath": string, "passwordFile": string, "lastStatus": status}}),
        );
    }
    let mut ca_props = cert_facts;
    if let Some(m) = ca_props.as_object_mut() {
        m.insert("isCa".into(), json!({"type": "boolean"}));
        m.insert("uploaded".into(), date.clone());
    }
    let backend = json!({
        "type": "object", "required": ["url"],
        "properties": {
            "url": string, "protocol": {"type": "string", "enum": ["http"]},
            "title": string, "description": string,
            "credentials": {"type": "object", "properties": {
                "certificateIds": strings,
                "header": {"type": "object", "additionalProperties": strings,
                           "description": "secret: values read back as ******"},
                "authorization": {"type": "object", "properties": {
                    "scheme": string,
                    "parameter": {"type": "string", "description": "secret: reads back as ******"}}}
            }},
            "tls": {"type": "object", "properties": {
                "validateCertificateChain": {"type": "boolean", "default": true},
                "validateCertificateName": {"type": "boolean", "default": true},
                "caCertificateIds": strings,
                "serverCertificateThumbprints": strings
            }}
        }
    });
    let api = json!({
        "type": "object", "required": ["path", "serviceUrl"],
        "properties": {
            "displayName": string, "path": string, "serviceUrl": string,
            "protocols": {"type": "array", "items": {"type": "string", "enum": ["http", "https"]}},
            "description": string,
            "subscriptionRequired": {"type": "boolean", "enum": [false], "description":
                "subscription keys are not checked: absent means false (not APIM's true); true is refused with NotSupported"},
            "authenticationSettings": {"type": ["object", "null"], "description":
                "accepted when it configures nothing (null or empty members); OAuth 2.0 and OpenID Connect settings are refused with NotSupported"}
        }
    });
    let operation = json!({
        "type": "object", "required": ["method", "urlTemplate"],
        "properties": {"displayName": string, "method": string, "urlTemplate": string, "description": string}
    });
    let policy = json!({
        "type": "object", "required": ["value"],
        "properties": {
            "format": {"type": "string", "enum": ["rawxml", "xml"]},
            "value": {"type": "string", "description": "<policies> document; passwords read back as ******"}
        }
    });
    let credentials = json!({
        "type": "object", "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ["none", "clientCertificate", "basic"]},
            "certificateId": string, "username": string,
            "password": {"type": "string", "description": "write-only; reads back as ******"},
            "thumbprint": string, "subject": string
        }
    });
    let role = json!({"type": "string", "enum": ["reader", "operator", "admin"],
        "description": "reader: reads (secrets are masked for every role); operator: also certificates, back ends, APIs, operations, policies, probes; admin: also tokens and hostname configurations"});
    let token = json!({
        "type": "object",
        "properties": {
            "role": role.clone(),
            "created": {"type": "string", "format": "date-time"},
            "createdBy": {"type": "string", "description": "who made it, as the audit trail names them"},
            "expiresAt": {"type": ["string", "null"], "format": "date-time"},
            "bootstrap": {"type": "boolean", "description": "the token set at start (GATEHOUSE_ADMIN_TOKEN): an admin, not revocable here"}
        }
    });
    let mut token_created = token.clone();
    token_created["properties"]["value"] =
        json!({"type": "string", "description": "the token: in this answer only, never again"});
    let token_create = json!({
        "type": "object", "required": ["name", "role"], "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$", "description": "its id, and its name in the audit trail"},
            "role": role,
            "expiresAt": {"type": "string", "format": "date-time", "description": "when it stops working; never when absent"}
        }
    });
    let hostname = json!({
        "type": "object", "required": ["hostName", "certificateId"],
        "properties": {
            "type": {"type": "string", "enum": ["Proxy"], "description": "optional; only the gateway (Proxy) is served"},
            "hostName": {"type": "string", "description": "exact (api.example.com) or one-label wildcard (*.example.com); `hostname` is accepted too"},
            "certificateId": {"type": "string", "description": "an uploaded certificate with its private key, naming the host"},
            "negotiateClientCertificate": {"type": "boolean", "default": false,
                "description": "ask callers for a certificate (optional at the TLS level; policies decide)"},
            "http2Enabled": {"type": "boolean", "default": true},
            "defaultSslBinding": {"type": "boolean", "default": false,
                "description": "serves clients without a known server name; at most one"}
        }
    });
    let usage = json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["globalPolicy", "apiPolicy", "operationPolicy", "backend", "api", "hostnameConfiguration"]},
            "id": string, "apiId": string, "operationId": string, "backendId": string,
            "location": string, "description": string
        }
    });
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "code": string, "message": string,
            "details": {"type": "array", "items": {"type": "object", "properties": {
                "code": string, "target": string, "message": string}}}
        }}}},
        "Certificate": entity(json!({"type": "object", "properties": cert_props})),
        "CertificateList": list_of("Certificate"),
        "CertificateCreate": create(json!({"type": "object", "properties": {
            "data": {"type": "string", "description": "base64 of a PKCS#12 (.pfx) file; write-only"},
            "password": {"type": "string", "description": "write-only"},
            "pem": {"type": "string", "description": "certificate chain and private key, PEM; write-only"},
            "keyVault": {"type": "object", "required": ["secretIdentifier"], "properties": {
                "secretIdentifier": {"type": "string", "description": "https://VAULT/secrets/NAME (latest) or .../NAME/VERSION"},
                "identityClientId": {"type": "string", "description": "a user-assigned managed identity"}}},
            "file": {"type": "object", "required": ["path"], "properties": {
                "path": {"type": "string", "description": "absolute path of a .pfx/.p12 or PEM file, re-read when it changes"},
                "keyPath": {"type": "string", "description": "the PEM key, when in its own file (tls.key)"},
                "passwordFile": {"type": "string", "description": "a file whose first line is the password"}}},
            "allowExpired": {"type": "boolean", "default": false}
        }})),
        "CertificateVersionList": list_of_inline(json!({"type": "object", "properties": {
            "version": {"type": "integer"}, "thumbprint": string, "subject": string,
            "expirationDate": date, "source": string, "activated": date,
            "current": {"type": "boolean"}}})),
        "AuditEventList": list_of_inline(json!({"type": "object", "properties": {
            "id": string, "name": string, "type": string,
            "properties": {"type": "object", "properties": {
                "timeStampUtc": date, "actor": string,
                "via": {"type": "string", "enum": ["api", "portal", "refresher", "system"]},
                "address": string, "entityKind": string, "entityId": string,
                "operation": {"type": "string", "enum": ["create", "update", "delete"]},
                "revisionBefore": {"type": "integer"}, "revisionAfter": {"type": "integer"}}}}})),
        "ProbeRequest": {"type": "object", "properties": {
            "certificateId": {"type": "string", "description": "present this certificate instead of the configured one"}}},
        "ProbeReport": {"type": "object", "properties": {
            "success": {"type": "boolean"},
            "code": {"type": "string", "description": "Success, or the failure code the gateway would report (BackendCertificateUntrusted, BackendCertificateNameMismatch, ClientCertificateRejected, BackendTlsNegotiationFailed, ...)"},
            "message": string, "elapsedMs": {"type": "number"},
            "backend": {"type": "object", "properties": {"id": string, "url": string}},
            "tls": {"type": "object", "properties": {"protocol": string, "cipherSuite": string, "keyExchange": string, "alpn": string}},
            "clientCertificate": {"type": "object", "properties": {
                "requested": {"type": "boolean"}, "acceptedIssuers": strings,
                "presented": {"type": "object", "properties": {"id": string, "thumbprint": string}},
                "configured": {"type": "array", "items": {"type": "object"}}}},
            "serverCertificate": {"type": "object", "properties": {
                "chain": {"type": "array", "items": {"type": "object", "properties": {
                    "subject": string, "issuer": string, "notBefore": date, "notAfter": date, "thumbprint": string}}},
                "checks": {"type": "object", "properties": {"chain": string, "name": string, "pins": string},
                           "description": "each check on its own: pass, off, or fail: why"}}}
        }},
        "CertificateRollback": {"type": "object", "required": ["version"], "properties": {
            "version": {"type": "integer", "description": "an earlier version, from /versions"}}},
        "CaCertificate": entity(json!({"type": "object", "properties": ca_props})),
        "CaCertificateList": list_of("CaCertificate"),
        "CaCertificateCreate": create(json!({"type": "object", "required": ["data"], "properties": {
            "data": {"type": "string", "description": "base64 DER or PEM certificate, no key"},
            "allowExpired": {"type": "boolean", "default": false}
        }})),
        "Backend": entity(backend.clone()),
        "BackendList": list_of("Backend"),
        "BackendCreate": create(backend),
        "Api": entity(api.clone()),
        "ApiList": list_of("Api"),
        "ApiCreate": create(api),
        "Operation": entity(operation.clone()),
        "OperationList": list_of("Operation"),
        "OperationCreate": create(operation),
        "Policy": entity(policy.clone()),
        "PolicyCreate": create(policy),
        "GatewayCredentials": entity(credentials.clone()),
        "GatewayCredentialsCreate": create(credentials),
        "Hostname": entity(hostname.clone()),
        "HostnameList": list_of("Hostname"),
        "HostnameCreate": create(hostname),
        "Token": entity(token),
        "TokenList": list_of("Token"),
        "TokenCreate": create(token_create),
        "TokenCreated": entity(token_created),
        "Usage": usage,
        "UsageList": list_of("Usage"),
    })
}

fn operation(route: &Route) -> Value {
    let Route {
        method,
        path,
        role,
        summary,
        request,
        response,
    } = *route;
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$"}}))
        .chain(std::iter::once(json!({"name": "api-version", "in": "query", "required": false, "description": "accepted and ignored", "schema": {"type": "string"}})))
        .collect();
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let mut responses = Map::new();
    let ok = match (method, response) {
        (_, Some(schema)) => {
            json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
        }
        ("DELETE", None) => json!({"description": "deleted"}),
        _ => json!({"description": "OK"}),
    };
    match method {
        "PUT" => {
            responses.insert("200".into(), ok.clone());
            responses.insert("201".into(), ok);
            for code in ["400", "404", "409", "412", "413"] {
                responses.insert(code.into(), error.clone());
            }
        }
        "DELETE" => {
            responses.insert("204".into(), ok);
            for code in ["404", "409", "412", "428"] {
                responses.insert(code.into(), error.clone());
            }
        }
        "POST" if response == Some("TokenCreated") => {
            responses.insert("201".into(), ok);
            for code in ["400", "409"] {
                responses.insert(code.into(), error.clone());
            }
        }
        _ => {
            responses.insert("200".into(), ok);
            responses.insert("404".into(), error.clone());
        }
    }
    // Every route: no token, and a Host that is not an IP literal, localhost or allowed.
    responses.insert("421".into(), error.clone());
    responses.insert("401".into(), error.clone());
    if role != gatehouse_model::entity::token::Role::Reader {
        responses.insert("403".into(), error);
    }
    let mut op = json!({
        "summary": summary,
        "operationId": format!("{}{}", method.to_ascii_lowercase(), path.replace(['/', '{', '}', '.'], "_")),
        "parameters": params,
        "responses": responses,
        "security": [{"bearer": []}],
        "x-gatehouse-role": role
    });
    if let Some(schema) = request {
        op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
    }
    if method == "DELETE"
        && let Some(params) = op["parameters"].as_array_mut()
    {
        {
            params.push(json!({"name": "If-Match", "in": "header", "required": true, "schema": {"type": "string"}}));
        }
    }
    op
}

/// The OpenAPI 3.1 document of every route.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gatehouse management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "APIM-shaped management of certificates, back ends, APIs, operations and policies. Every route needs 'Authorization: Bearer <admin token>'."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        }
    })
}

/// Serves [`document`].
pub(crate) async fn serve() -> Response {
    Json(document()).into_response()
}
