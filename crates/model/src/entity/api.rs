//! APIs and their operations.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Record, check_text, decode_body};
use crate::template::UrlTemplate;
use crate::url::ServiceUrl;
use crate::{Detail, Kind, ModelError, NOT_SUPPORTED, Problems};

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
    /// The gateway listeners the API is served on: `http` (the plain listener), `https` (the
    /// TLS listener), or both (the default).
    #[serde(default = "default_protocols")]
    pub protocols: Vec<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// APIM's `subscriptionRequired`. Gatehouse does not check subscription keys, so only
    /// `false` is accepted, and an absent value means "not required", unlike APIM, whose
    /// default is `true`: an API must never look protected by a key nobody checks. `true` is
    /// refused with `NotSupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_required: Option<serde_json::Value>,
    /// APIM's header and query parameter names for subscription keys; kept as sent and
    /// harmless: no key is ever read, as `subscription_required` cannot be true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_key_parameter_names: Option<serde_json::Value>,
    /// APIM's `authenticationSettings` (OAuth 2.0 and OpenID Connect user authorization,
    /// `subscriptionKeyRequired`). Accepted only when it asks for nothing (absent, `null`, or
    /// `null` and empty members, as APIM exports an API without user authorization);
    /// anything configured is refused with `NotSupported`: Gatehouse checks no tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_settings: Option<serde_json::Value>,
    /// APIM's revision number; kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_revision: Option<serde_json::Value>,
    /// APIM's revision notes; kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_revision_description: Option<serde_json::Value>,
    /// APIM's version label; kept as sent, display only (routing by version needs a version
    /// set, see `api_version_set_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<serde_json::Value>,
    /// APIM's version notes; kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version_description: Option<serde_json::Value>,
    /// APIM's version set, which would route requests by a path segment, query parameter or
    /// header carrying `api_version`. Gatehouse has no version sets: a non-empty value is
    /// refused with `NotSupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version_set_id: Option<serde_json::Value>,
    /// APIM's "this revision is the one served at the API's path". Gatehouse has no
    /// revisions and serves every API at its path: only `true` is accepted, `false` is
    /// refused with `NotSupported`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_current: Option<serde_json::Value>,
    /// APIM's "reachable through the gateway"; as `is_current`, `false` is refused with
    /// `NotSupported` (every API is served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_online: Option<serde_json::Value>,
    /// APIM's kind of API (`http`, `soap`, `websocket`, `graphql`, `grpc`, `odata`). The
    /// gateway forwards plain HTTP only: any kind but `http` is refused with `NotSupported`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub api_kind: Option<serde_json::Value>,
    /// APIM's kind of API as given at creation; the same rule as `api_kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_type: Option<serde_json::Value>,
    /// Kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<serde_json::Value>,
    /// Kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<serde_json::Value>,
    /// Kept as sent, display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<serde_json::Value>,
}

/// Both listeners unless the API says otherwise: a gateway without a TLS listener (the quick
/// start) serves it, and one with both serves it on either. `["https"]` requires TLS.
fn default_protocols() -> Vec<String> {
    vec!["http".into(), "https".into()]
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
        problems.extend(api.apim_settings());
        problems.into_result("the API is not valid")?;
        Ok(api)
    }

    /// The settings of this API that ask for behaviour the gateway does not have, as
    /// `NotSupported` details. Empty for every API [`ApiProperties::from_input`] accepts; an
    /// API stored before a setting was refused can have some, and the gateway serves it as
    /// it always did (see [`crate::Config::unsupported_settings`]).
    pub fn unsupported_settings(&self) -> Vec<Detail> {
        self.apim_settings()
            .into_iter()
            .filter(|d| d.code == NOT_SUPPORTED)
            .collect()
    }

    /// Checks APIM's own fields: those that ask for behaviour are refused as not supported,
    /// never stored and ignored; display-only ones are kept as sent.
    fn apim_settings(&self) -> Vec<Detail> {
        let mut out = Vec::new();
        check_flag(
            self.subscription_required.as_ref(),
            "properties.subscriptionRequired",
            false,
            SUBSCRIPTION_KEYS,
            &mut out,
        );
        check_authentication(self.authentication_settings.as_ref(), &mut out);
        check_flag(
            self.is_current.as_ref(),
            "properties.isCurrent",
            true,
            "revisions are not supported: Gatehouse serves every API at its path, as the \
             current revision; send true or leave it out",
            &mut out,
        );
        check_flag(
            self.is_online.as_ref(),
            "properties.isOnline",
            true,
            "offline APIs are not supported: Gatehouse serves every API it has; send true or \
             leave it out (delete the API to stop serving it)",
            &mut out,
        );
        match &self.api_version_set_id {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(_)) => out.push(Detail::new(
                NOT_SUPPORTED,
                "properties.apiVersionSetId",
                "version sets are not supported: the gateway would not route requests by \
                 version; put the version in the path (e.g. orders/v1) and leave \
                 apiVersionSetId out",
            )),
            Some(_) => out.push(Detail::new(
                "InvalidProperty",
                "properties.apiVersionSetId",
                "must be a string",
            )),
        }
        for (value, target) in [
            (&self.api_kind, "properties.type"),
            (&self.api_type, "properties.apiType"),
        ] {
            match value {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s == "http" => {}
                Some(Value::String(s)) => out.push(Detail::new(
                    NOT_SUPPORTED,
                    target,
                    format!(
                        "'{}' APIs are not supported: the gateway forwards plain HTTP \
                         requests only; send \"http\" or leave it out",
                        crate::printable(s)
                    ),
                )),
                Some(_) => out.push(Detail::new(
                    "InvalidProperty",
                    target,
                    "must be a string such as \"http\"",
                )),
            }
        }
        out
    }

    /// The stored form of this API.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn to_record(&self, id: &str, revision: u64) -> Result<Record, ModelError> {
        super::plain_record(Kind::Api, id, revision, self)
    }

    /// Reads an API back from its record.
    ///
    /// # Errors
    /// an internal error when the body is not an API.
    pub fn from_record(record: &Record) -> Result<Self, ModelError> {
        decode_body(record)
    }
}

const SUBSCRIPTION_KEYS: &str = "subscription keys are not supported: Gatehouse does not check \
                                 them, so the API would be open to every caller; send false or \
                                 leave it out, and protect the API another way";

/// A boolean APIM setting of which only `accepted` (or absence) is what the gateway does;
/// the other value is refused with `why`.
fn check_flag(
    value: Option<&Value>,
    target: &str,
    accepted: bool,
    why: &str,
    out: &mut Vec<Detail>,
) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) if *b == accepted => {}
        Some(Value::Bool(_)) => out.push(Detail::new(NOT_SUPPORTED, target, why)),
        Some(_) => out.push(Detail::new(
            "InvalidProperty",
            target,
            "must be true or false",
        )),
    }
}

/// APIM's `AuthenticationSettingsContract`: accepted when it configures nothing.
fn check_authentication(value: Option<&Value>, out: &mut Vec<Detail>) {
    const TARGET: &str = "properties.authenticationSettings";
    let members = match value {
        None | Some(Value::Null) => return,
        Some(Value::Object(members)) => members,
        Some(_) => {
            out.push(Detail::new("InvalidProperty", TARGET, "must be an object"));
            return;
        }
    };
    for (name, value) in members {
        let target = format!("{TARGET}.{}", crate::printable(name));
        match name.as_str() {
            "oAuth2"
            | "openid"
            | "oAuth2AuthenticationSettings"
            | "openidAuthenticationSettings" => {
                if !asks_nothing(value) {
                    out.push(Detail::new(
                        NOT_SUPPORTED,
                        target,
                        "OAuth 2.0 and OpenID Connect user authorization are not supported: \
                         Gatehouse checks no tokens, so the setting would not protect the API; \
                         remove it (null and empty values are accepted)",
                    ));
                }
            }
            "subscriptionKeyRequired" => {
                check_flag(Some(value), &target, false, SUBSCRIPTION_KEYS, out);
            }
            _ => out.push(Detail::new(
                "InvalidProperty",
                target,
                "is not a field of authenticationSettings (oAuth2, openid, \
                 oAuth2AuthenticationSettings, openidAuthenticationSettings, \
                 subscriptionKeyRequired)",
            )),
        }
    }
}

/// Whether a setting configures nothing: null, empty, or made only of such values, which is
/// how APIM exports an API without user authorization (`{"oAuth2": null, "openid": null}`,
/// `"oAuth2AuthenticationSettings": []`).
fn asks_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(asks_nothing),
        Value::Object(members) => members.values().all(asks_nothing),
        Value::Bool(_) | Value::Number(_) => false,
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
        super::plain_record(Kind::Operation, key, revision, self)
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
        assert_eq!(api.protocols, vec!["http", "https"]);

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
        // an APIM export carries display-only fields the gateway keeps as sent.
        let api = ApiProperties::from_input(json!({"path": "x", "subscriptionRequired": false,
            "apiRevision": "1", "isCurrent": true, "apiVersion": "v1", "contact": {"name": "Ops"}}))
        .unwrap();
        assert_eq!(api.service_url, None);
        assert_eq!(api.subscription_required, Some(json!(false)));
        assert_eq!(api.api_version, Some(json!("v1")));
        assert!(api.unsupported_settings().is_empty());
    }

    /// The one refusal of `properties` holding `extra` beside a valid path.
    fn refused(extra: serde_json::Value) -> ModelError {
        let mut properties = json!({"path": "x", "serviceUrl": "https://backend.example"});
        for (k, v) in extra.as_object().unwrap() {
            properties[k] = v.clone();
        }
        ApiProperties::from_input(properties).unwrap_err()
    }

    #[test]
    fn settings_the_gateway_cannot_honour_are_refused_as_not_supported() {
        for (extra, target) in [
            (
                json!({"subscriptionRequired": true}),
                "properties.subscriptionRequired",
            ),
            (
                json!({"authenticationSettings": {"oAuth2": {"authorizationServerId": "aad"}}}),
                "properties.authenticationSettings.oAuth2",
            ),
            (
                json!({"authenticationSettings": {"openid": {"openidProviderId": "idp",
                    "bearerTokenSendingMethods": ["authorizationHeader"]}}}),
                "properties.authenticationSettings.openid",
            ),
            (
                json!({"authenticationSettings": {"oAuth2AuthenticationSettings":
                    [{"authorizationServerId": "aad", "scope": null}]}}),
                "properties.authenticationSettings.oAuth2AuthenticationSettings",
            ),
            (
                json!({"authenticationSettings": {"openidAuthenticationSettings":
                    [{"openidProviderId": "idp"}]}}),
                "properties.authenticationSettings.openidAuthenticationSettings",
            ),
            (
                json!({"authenticationSettings": {"subscriptionKeyRequired": true}}),
                "properties.authenticationSettings.subscriptionKeyRequired",
            ),
            (json!({"isCurrent": false}), "properties.isCurrent"),
            (json!({"isOnline": false}), "properties.isOnline"),
            (
                json!({"apiVersionSetId": "/apiVersionSets/orders"}),
                "properties.apiVersionSetId",
            ),
            (json!({"type": "soap"}), "properties.type"),
            (json!({"apiType": "websocket"}), "properties.apiType"),
        ] {
            let err = refused(extra.clone());
            assert_eq!(err.code(), "NotSupported", "{extra}");
            assert_eq!(err.details().len(), 1, "{extra}");
            assert_eq!(err.details()[0].target, target, "{extra}");
            assert!(err.to_string().contains(target), "{err}");
            assert!(err.to_string().contains("not supported"), "{err}");
        }
        // Several are all named, beside other problems.
        let err = ApiProperties::from_input(json!({"path": "x", "serviceUrl": "ftp://x",
            "subscriptionRequired": true, "type": "graphql"}))
        .unwrap_err();
        let codes: Vec<_> = err.details().iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["InvalidProperty", "NotSupported", "NotSupported"]);
        // Values of the wrong type are invalid, not unsupported.
        for extra in [
            json!({"subscriptionRequired": "no"}),
            json!({"authenticationSettings": "none"}),
            json!({"authenticationSettings": {"oauth2": null}}),
            json!({"isCurrent": 1}),
            json!({"type": 7}),
        ] {
            assert_eq!(refused(extra.clone()).code(), "InvalidProperty", "{extra}");
        }
    }

    #[test]
    fn settings_that_ask_for_nothing_are_accepted() {
        let base = json!({"path": "x", "serviceUrl": "https://backend.example"});
        for extra in [
            json!({}),
            json!({"subscriptionRequired": false}),
            json!({"subscriptionRequired": null}),
            json!({"authenticationSettings": null}),
            json!({"authenticationSettings": {}}),
            json!({"authenticationSettings": {"oAuth2": null, "openid": null}}),
            json!({"authenticationSettings": {"oAuth2": {}, "openid": {},
                "oAuth2AuthenticationSettings": [], "openidAuthenticationSettings": [],
                "subscriptionKeyRequired": false}}),
            json!({"authenticationSettings": {"oAuth2": {"authorizationServerId": null,
                "scope": null}, "openid": {"openidProviderId": "",
                "bearerTokenSendingMethods": []}}}),
            json!({"isCurrent": true, "isOnline": true, "apiVersionSetId": null}),
            json!({"type": "http", "apiType": "http"}),
        ] {
            let mut properties = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                properties[k] = v.clone();
            }
            let api = ApiProperties::from_input(properties)
                .unwrap_or_else(|e| panic!("{extra}: {e} {:?}", e.details()));
            // Kept as sent, so an APIM export round-trips.
            let back = serde_json::to_value(&api).unwrap();
            for (k, v) in extra.as_object().unwrap() {
                if !v.is_null() {
                    assert_eq!(&back[k], v, "{k}");
                }
            }
        }
    }

    #[test]
    fn a_stored_api_reports_what_it_asks_for() {
        // Stored before the refusal: it still loads, and says what the gateway does not do.
        let record = Record {
            kind: Kind::Api,
            key: "legacy".into(),
            revision: 3,
            body: json!({"path": "legacy", "protocols": ["https"], "subscriptionRequired": true,
                "authenticationSettings": {"oAuth2": {"authorizationServerId": "aad"}}})
            .to_string(),
            sealed: None,
        };
        let api = ApiProperties::from_record(&record).unwrap();
        let targets: Vec<_> = api
            .unsupported_settings()
            .into_iter()
            .map(|d| (d.code, d.target))
            .collect();
        assert_eq!(
            targets,
            [
                (
                    "NotSupported".into(),
                    "properties.subscriptionRequired".into()
                ),
                (
                    "NotSupported".into(),
                    "properties.authenticationSettings.oAuth2".into()
                ),
            ]
        );
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
