//! The web portal as a signed-in browser speaks to it: a session cookie and its CSRF token.

use crate::support::server::{Api, Reply, Server};

/// The content type of a form post.
pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A signed-in browser: the session cookie and the page's CSRF token.
pub struct Browser {
    /// A client of the admin listener without a token.
    pub http: Api,
    /// The session cookie, `name=value`.
    pub cookie: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Browser {
    /// Signs in with the server's admin token.
    pub async fn sign_in(server: &Server) -> Self {
        let token = server.options.token.clone().unwrap();
        Self::sign_in_with(server, &token).await
    }

    /// Signs in with `token` (the bootstrap token or a named one).
    pub async fn sign_in_with(server: &Server, token: &str) -> Self {
        let http = Api::new(server.admin, None);
        let reply = http
            .send("POST", "/login", form(&[("token", token)]), &[FORM])
            .await
            .expect(303);
        let set_cookie = reply.headers["set-cookie"].to_str().unwrap().to_string();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let page = http
            .send(
                "GET",
                "/ui/certificates",
                Vec::new(),
                &[("cookie", &cookie)],
            )
            .await
            .expect(200)
            .text();
        let csrf = page
            .split("\"X-CSRF-Token\": \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page carries the CSRF token")
            .to_string();
        Self { http, cookie, csrf }
    }

    /// A page or fragment, with the session cookie.
    pub async fn get(&self, path: &str) -> Reply {
        self.http
            .send("GET", path, Vec::new(), &[("cookie", &self.cookie)])
            .await
    }

    /// An htmx form post with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        self.http
            .send(
                "POST",
                path,
                form(fields),
                &[
                    FORM,
                    ("cookie", &self.cookie),
                    ("x-csrf-token", &self.csrf),
                    ("hx-request", "true"),
                ],
            )
            .await
    }

    /// An htmx delete with the session's CSRF token.
    pub async fn delete(&self, path: &str) -> Reply {
        self.http
            .send(
                "DELETE",
                path,
                Vec::new(),
                &[
                    ("cookie", &self.cookie),
                    ("x-csrf-token", &self.csrf),
                    ("hx-request", "true"),
                ],
            )
            .await
    }

    /// Sends a call through the console and returns the presented-certificate cell's text.
    pub async fn console(&self, path: &str) -> (String, String) {
        let page = self
            .post(
                "/ui/console",
                &[
                    ("method", "GET"),
                    ("path", path),
                    ("headers", ""),
                    ("body", ""),
                ],
            )
            .await
            .expect(200)
            .text();
        let presented = page
            .split("id=\"presented-certificate\">")
            .nth(1)
            .and_then(|rest| rest.split("</dd>").next())
            .unwrap_or_else(|| panic!("no presented certificate in:\n{page}"))
            .to_string();
        (page, presented)
    }
}

/// A form body.
pub fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Percent-encodes a form value.
pub fn encode(s: &str) -> String {
    gatehouse_model::text::percent_encode(s, &[])
}
