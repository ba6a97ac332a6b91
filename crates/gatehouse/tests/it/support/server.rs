//! Starts the real `gatehouse` binary on a temp data dir and port 0, and talks to it.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The admin token the tests start servers with.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// How to start a server.
#[derive(Clone)]
pub struct Options {
    /// Data directory (kept by the caller so restarts can reuse it).
    pub data_dir: PathBuf,
    /// `GATEHOUSE_ADMIN_TOKEN`; `None` lets the server generate one.
    pub token: Option<String>,
    /// `RUST_LOG`.
    pub log: String,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Extra flags.
    pub args: Vec<String>,
}

impl Options {
    /// Defaults: the test token, info logs.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            token: Some(TOKEN.to_string()),
            log: "info".into(),
            env: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// A running `gatehouse serve`.
pub struct Server {
    child: Child,
    /// Management API address.
    pub admin: SocketAddr,
    /// The gateway's plain listener (`0.0.0.0:0` when it was turned off).
    pub gateway: SocketAddr,
    /// The gateway's TLS listener, when started with `--gateway-tls-listen`.
    pub gateway_tls: Option<SocketAddr>,
    logs: Arc<Mutex<String>>,
    /// The options it was started with.
    pub options: Options,
}

/// Runs `gatehouse serve` and waits for its admin listener.
pub fn start(options: Options) -> Server {
    try_start(options).unwrap_or_else(|(logs, status)| {
        panic!("gatehouse did not start ({status:?}); its log:\n{logs}")
    })
}

/// Like [`start`], but returns the log and exit status when the server exits instead.
pub fn try_start(options: Options) -> Result<Server, (String, Option<ExitStatus>)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(&options.data_dir)
        .args(["--admin-listen", "127.0.0.1:0"]);
    // A test may choose the plain listener itself (`none` turns it off); clap takes it once.
    if !options.args.iter().any(|a| a == "--gateway-listen") {
        cmd.args(["--gateway-listen", "127.0.0.1:0"]);
    }
    cmd.args(&options.args)
        .env_remove("GATEHOUSE_ADMIN_TOKEN")
        .env_remove("GATEHOUSE_MASTER_KEY")
        .env("RUST_LOG", &options.log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = &options.token {
        cmd.env("GATEHOUSE_ADMIN_TOKEN", token);
    }
    for (k, v) in &options.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn gatehouse");
    let logs = Arc::new(Mutex::new(String::new()));
    for stream in [
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let logs = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut l = logs.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = logs.lock().unwrap().clone();
        let ready = text.contains("gateway listeners ready");
        if let (Some(addr), true) = (find_addr(&text, "admin listener bound"), ready) {
            return Ok(Server {
                child,
                admin: addr,
                gateway: find_addr(&text, "gateway listener bound")
                    .unwrap_or_else(|| "0.0.0.0:0".parse().unwrap()),
                gateway_tls: find_addr(&text, "gateway TLS listener bound"),
                logs,
                options,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            return Err((logs.lock().unwrap().clone(), Some(status)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err((logs.lock().unwrap().clone(), None));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `addr=` (text logs) or `"addr":"..."` (JSON logs) of the first log line holding
/// `message`.
pub fn find_addr(logs: &str, message: &str) -> Option<SocketAddr> {
    let line = logs.lines().find(|l| l.contains(message))?;
    let rest = line
        .split("addr=")
        .nth(1)
        .or_else(|| line.split("\"addr\":").nth(1))?;
    rest.split(|c: char| c.is_whitespace() || c == ',' || c == '}')
        .next()
        .and_then(|a| a.trim_matches('"').parse().ok())
}

impl Server {
    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Whether the log holds `needle` within a few seconds (lines reach us through a pipe and
    /// a reader thread, a moment after the server wrote them).
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user plus system) the server has used, in clock ticks (1/100 s on Linux).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// A client with the test token.
    pub fn api(&self) -> Api {
        Api::new(self.admin, self.options.token.clone())
    }

    /// A client of the gateway (no token).
    pub fn gateway(&self) -> Api {
        Api::new(self.gateway, None)
    }

    /// Kills the process at once (SIGKILL: no shutdown, no flush) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One answer of the management API.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when empty).
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The ETag header.
    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .expect("etag header")
            .to_str()
            .unwrap()
            .to_string()
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_string()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        self
    }
}

/// A management API client.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    /// A client for `addr` sending `token` (none when `None`).
    pub fn new(addr: SocketAddr, token: Option<String>) -> Self {
        Self {
            base: format!("http://{addr}"),
            token,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// The same client with another token.
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    /// Sends a request with raw body and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_send(method, path, body, headers)
            .await
            .expect("request")
    }

    /// Like [`Api::send`], but `None` when the connection fails (a server killed mid-request).
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Option<Reply> {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(format!("{}{path}", self.base));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .client
            .request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .ok()?;
        let (parts, body) = response.into_parts();
        Some(Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.ok()?.to_bytes(),
        })
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, Vec::new(), &[]).await
    }

    /// `PUT` of a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, serde_json::to_vec(body).unwrap(), &[])
            .await
    }

    /// `PUT` with extra headers.
    pub async fn put_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.send("PUT", path, serde_json::to_vec(body).unwrap(), headers)
            .await
    }

    /// `DELETE` with `If-Match: *`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, Vec::new(), &[("if-match", "*")])
            .await
    }

    /// `DELETE` with the given headers.
    pub async fn delete_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("DELETE", path, Vec::new(), headers).await
    }
}

/// Sends `request` (raw HTTP/1.1 text, which should say `Connection: close`) to `addr` from
/// `local` (another loopback address stands for another client) and returns everything the
/// server answered before closing.
pub async fn raw_http(addr: SocketAddr, local: Option<std::net::IpAddr>, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0)).unwrap();
    }
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
