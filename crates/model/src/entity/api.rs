//! APIs and their operations.

use serde::{Deserialize, Serialize};

use super::{Record, check_text, decode_body, encode_body};
use crate::template::UrlTemplate;
use crate::url::ServiceUrl;
use crate::{Kind, ModelError, Problems};

/// Properties of an API: how the gateway exposes it and where it forwards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiProperties {
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// URL suffix on the gateway: requests under `/{path}/...` belong to this API.
    /// Stored without leading or trailing slashes; empty means the gateway root.
    pub path: String,
    /// Base URL of the back-end service; may be absent when every operation's policy names
    /// its back end with `set-backend-service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// Gateway-side protocols the API answers on.
    #[serde(default = "default_protocols")]
    pub protocols: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// APIM's own fields, kept as sent so an APIM export round-trips; the gateway does not
    /// act on them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_required: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_key_parameter_names: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_settings: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_revision: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_revision_description: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version_description: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version_set_id: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_current: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_online: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub api_kind: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_type: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<serde_json::Value>,
    /// See `subscription_required`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<serde_json::Value>,
}

fn default_protocols() -> Vec<String> {
    vec!["https".into()]
}

impl ApiProperties {
    /// Parses and normalises the `properties` of a `PUT /apis/{id}`.
    ///
    /// # Errors
    /// `InvalidProperty` naming each field that is wrong.
    pub fn from_input(properties: serde_json::Value) -> Result<Self, ModelError> {
        let mut api: ApiProperties = super::from_properties(properties)?;
        let mut problems = Problems::default();
        api.path = normalise_path(&api.path, &mut problems);
        if let Some(url) = &api.service_url
            && let Err(e) = ServiceUrl::parse(url)
        {
            problems.push("InvalidProperty", "properties.serviceUrl", e.to_string());
        }
        if api.protocols.is_empty() {
            problems.push(
                "InvalidProperty",
                "properties.protocols",
                "name at least one of \"http\", \"https\"",
            );
        }
        for (i, p) in api.protocols.iter().enumerate() {
            if p != "http" && p != "https" {
                problems.push(
                    "InvalidProperty",
                    format!("properties.protocols[{i}]"),
                    "must be \"http\" or \"https\"",
                );
            }
        }
        api.protocols.sort();
        api.protocols.dedup();
        check_text(
            api.display_name.as_deref(),
            "properties.displayName",
            300,
            &mut problems,
        );
        check_text(
            api.description.as_deref(),
            "properties.description",
            4000,
            &mut problems,
        );
        problems.into_result("the API is not valid")?;
        Ok(api)
    }

    /// The stored form of this API.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, id: &str, revision: u64) -> Result<Record, ModelError> {
        Ok(Record {
            kind: Kind::Api,
            key: id.to_string(),
            revision,
            body: encode_body(self)?,
            sealed: None,
        })
    }

    /// Reads an API back from its record.
    ///
    /// # Errors
    /// an internal error when the body is not an API.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

/// Normalises an API URL suffix: no leading or trailing slash, no empty, dot or odd segments.
fn normalise_path(path: &str, problems: &mut Problems) -> String {
    let trimmed = path.trim_matches('/');
    let target = "properties.path";
    if trimmed.len() > 400 {
        problems.push("InvalidProperty", target, "must be at most 400 characters");
    }
    if trimmed.is_empty() {
        return String::new();
    }
    for segment in trimmed.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            problems.push(
                "InvalidProperty",
                target,
                format!(
                    "'{}' has an empty, '.' or '..' segment",
                    crate::printable(path)
                ),
            );
            break;
        }
        if !segment.bytes().all(is_path_byte) {
            problems.push(
                "InvalidProperty",
                target,
                format!(
                    "'{}' may hold only letters, digits and -._~!$&'()*+,;=:@ between slashes",
                    crate::printable(path)
                ),
            );
            break;
        }
    }
    trimmed.to_string()
}

/// RFC 3986 `pchar` without percent-encoding: what a URL path segment may hold as is.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Properties of an operation: which requests of its API it matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationProperties {
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// HTTP method (upper case), or `*` for any.
    pub method: String,
    /// Path template below the API path, e.g. `/users/{id}` or `/*`.
    pub url_template: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// APIM's description of the template's parameters (required there for `{param}`
    /// templates); kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_parameters: Option<serde_json::Value>,
    /// APIM's request description; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<serde_json::Value>,
    /// APIM's response descriptions; kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses: Option<serde_json::Value>,
}

impl OperationProperties {
    /// Parses the `properties` of a `PUT /apis/{apiId}/operations/{id}`.
    ///
    /// # Errors
    /// `InvalidProperty` naming each field that is wrong.
    pub fn from_input(properties: serde_json::Value) -> Result<Self, ModelError> {
        let mut op: OperationProperties = super::from_properties(properties)?;
        let mut problems = Problems::default();
        op.method = op.method.trim().to_ascii_uppercase();
        if op.method != "*"
            && (op.method.is_empty()
                || op.method.len() > 20
                || !op.method.bytes().all(|b| b.is_ascii_uppercase()))
        {
            problems.push(
                "InvalidProperty",
                "properties.method",
                "must be an HTTP method such as GET or POST, or * for any",
            );
        }
        if let Err(e) = UrlTemplate::parse(&op.url_template) {
            problems.push("InvalidProperty", "properties.urlTemplate", e.to_string());
        }
        check_text(
            op.display_name.as_deref(),
            "properties.displayName",
            300,
            &mut problems,
        );
        check_text(
            op.description.as_deref(),
            "properties.description",
            4000,
            &mut problems,
        );
        problems.into_result("the operation is not valid")?;
        Ok(op)
    }

    /// The stored form; `key` is `{apiId}/{operationId}`.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, key: &str, revision: u64) -> Result<Record, ModelError> {
        Ok(Record {
            kind: Kind::Operation,
            key: key.to_string(),
            revision,
            body: encode_body(self)?,
            sealed: None,
        })
    }

    /// Reads an operation back from its record.
    ///
    /// # Errors
    /// an internal error when the body is not an operation.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_paths_are_normalised_and_checked() {
        let api = ApiProperties::from_input(
            json!({"path": "/echo/v1/", "serviceUrl": "https://backend.example:8443/base"}),
        )
        .unwrap();
        assert_eq!(api.path, "echo/v1");
        assert_eq!(api.protocols, vec!["https"]);

        for bad in ["a//b", "a/../b", "a b", "a?b"] {
            let err = ApiProperties::from_input(
                json!({"path": bad, "serviceUrl": "https://backend.example"}),
            )
            .unwrap_err();
            assert_eq!(err.details()[0].target, "properties.path", "{bad}");
        }
    }

    #[test]
    fn api_problems_are_all_reported() {
        let err = ApiProperties::from_input(
            json!({"path": "x", "serviceUrl": "ftp://nope", "protocols": ["gopher"]}),
        )
        .unwrap_err();
        let targets: Vec<_> = err.details().iter().map(|d| d.target.as_str()).collect();
        assert_eq!(
            targets,
            ["properties.serviceUrl", "properties.protocols[0]"]
        );
        // APIM lets serviceUrl be absent (set-backend-service then names the back end), and
        // an APIM export carries fields the gateway keeps but does not act on.
        let api = ApiProperties::from_input(
            json!({"path": "x", "subscriptionRequired": true, "apiRevision": "1", "isCurrent": true}),
        )
        .unwrap();
        assert_eq!(api.service_url, None);
        assert_eq!(api.subscription_required, Some(json!(true)));
    }

    #[test]
    fn operations_check_method_and_template() {
        let op =
            OperationProperties::from_input(json!({"method": "get", "urlTemplate": "/users/{id}"}))
                .unwrap();
        assert_eq!(op.method, "GET");
        let err = OperationProperties::from_input(json!({"method": "G T", "urlTemplate": "users"}))
            .unwrap_err();
        let targets: Vec<_> = err.details().iter().map(|d| d.target.as_str()).collect();
        assert_eq!(targets, ["properties.method", "properties.urlTemplate"]);
    }
}
