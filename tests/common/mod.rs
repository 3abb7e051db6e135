//! The test-side device: starts the real `easd` binary on loopback ports with a temporary
//! database and speaks HTTP(S) to it the way a phone does, with WBXML built by the codec.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use easd::wbxml::{self, Element};

pub const PASSWORD: &str = "correct horse battery staple";

/// The server binary: `EASD_BIN` when set (benchmarks choose their build), else the one cargo
/// built for these tests.
pub fn easd_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EASD_BIN") {
        return PathBuf::from(path);
    }
    PathBuf::from(option_env!("CARGO_BIN_EXE_easd").unwrap_or("easd"))
}

/// A running `easd serve` with its own temporary directory.
pub struct TestServer {
    child: Option<Child>,
    pub dir: PathBuf,
    pub db: PathBuf,
    pub config: PathBuf,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub stdout_lines: Vec<String>,
    /// What was added to its environment (kept across [`TestServer::kill_and_restart`]).
    env: Vec<(String, String)>,
}

fn unique_dir() -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "easd-test-{}-{}-{}",
        std::process::id(),
        n,
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Starts `easd serve` on `config` with `env` added to its environment, logging to
/// `dir/server.log`, and waits until it listens.
fn spawn_server(
    dir: &Path,
    config: &Path,
    env: &[(&str, &str)],
) -> (Child, SocketAddr, SocketAddr, Vec<String>) {
    let mut child = Command::new(easd_binary())
        .arg("--config")
        .arg(config)
        .arg("serve")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(
            // Appended: a restarted server keeps the log of the one before.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("server.log"))
                .expect("log file"),
        )
        .spawn()
        .expect("start easd");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    let (mut http, mut https) = (None, None);
    while http.is_none() || https.is_none() {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read stdout") == 0 {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            panic!("easd exited before listening: {lines:?}\n{log}");
        }
        if let Some(rest) = line.trim().strip_prefix("easd: listening on ") {
            let (scheme, rest) = rest.split_once("://").expect("url");
            let addr: SocketAddr = rest
                .split('/')
                .next()
                .and_then(|a| a.parse().ok())
                .expect("address");
            if scheme == "https" {
                https = Some(addr);
            } else {
                http = Some(addr);
            }
        }
        lines.push(line);
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    (child, http.expect("http"), https.expect("https"), lines)
}

impl TestServer {
    /// Starts a server whose configuration file holds `extra_config` (key = value lines).
    pub fn start_with(extra_config: &str) -> TestServer {
        Self::start_with_env(extra_config, &[])
    }

    /// Like [`TestServer::start_with`], with `env` added to the server's environment.
    pub fn start_with_env(extra_config: &str, env: &[(&str, &str)]) -> TestServer {
        let dir = unique_dir();
        let db = dir.join("easd.db");
        let config = dir.join("easd.conf");
        // Each server hears its own change notifications: with the default port the first
        // server of a parallel run would get every other server's (and the rest none).
        let notify = if extra_config.contains("notify") {
            String::new()
        } else {
            format!("notify = 127.0.0.1:{}\n", free_udp_port())
        };
        std::fs::write(
            &config,
            format!(
                "database = {}\nhostname = localhost\nhttps = 127.0.0.1:0\nhttp = 127.0.0.1:0\n{notify}{extra_config}\n",
                db.display()
            ),
        )
        .expect("config");
        let (child, http, https, lines) = spawn_server(&dir, &config, env);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        TestServer {
            env,
            child: Some(child),
            dir,
            db,
            config,
            http,
            https,
            stdout_lines: lines,
        }
    }

    pub fn start() -> TestServer {
        Self::start_with("")
    }

    /// Runs the easd CLI against this server's configuration, with the server's added
    /// environment.
    pub fn easd(&self, args: &[&str]) -> Output {
        easd_cli_with_env(&self.config, args, None, &self.env)
    }

    pub fn easd_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        easd_cli_with_env(&self.config, args, Some(input), &self.env)
    }

    /// `easd deliver TO` of a raw message, as the MTA hands it over; asserts it was filed.
    pub fn deliver(&self, to: &str, raw: &[u8]) {
        let out = self.easd_stdin(&["deliver", to], raw);
        assert!(out.status.success(), "deliver: {out:?}");
    }

    pub fn add_user(&self, email: &str) {
        let out = self.easd(&["user", "add", email, "--password", PASSWORD]);
        assert!(out.status.success(), "user add: {out:?}");
    }

    /// What the server has logged so far (its standard error).
    /// Exports `email`'s `folder`, imports that text for a new account `copy` and exports
    /// `copy`'s folder: asserts both commands succeed and the second export is the same text
    /// as the first, which it returns.
    pub fn export_round_trip(&self, email: &str, folder: &str, copy: &str) -> String {
        let first = self.easd(&["export", email, "--folder", folder]);
        assert_eq!(first.status.code(), Some(0), "{first:?}");
        let first = String::from_utf8(first.stdout).expect("an export in UTF-8");
        self.add_user(copy);
        let file = self.dir.join(format!("export-of-{folder}"));
        std::fs::write(&file, &first).unwrap();
        let out = self.easd(&["import", copy, file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let second = self.easd(&["export", copy, "--folder", folder]);
        assert_eq!(second.status.code(), Some(0), "{second:?}");
        assert_eq!(String::from_utf8(second.stdout).unwrap(), first);
        first
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Kills the server with SIGKILL (no chance to finish anything) and starts it again on
    /// the same configuration and database; the listening ports change.
    pub fn kill_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            // The killed server could not remove its private runtime directory
            // (`$TMPDIR/easd-PID-…`, see admin/serve.rs): do it for it.
            if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
                let prefix = format!("easd-{pid}-");
                for entry in entries.flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (child, http, https, lines) = spawn_server(&self.dir, &self.config, &env);
        self.child = Some(child);
        self.http = http;
        self.https = https;
        self.stdout_lines = lines;
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("easd did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self) -> HttpClient {
        HttpClient::plain(self.http)
    }

    pub fn tls_client(&self) -> HttpClient {
        HttpClient::tls(self.https)
    }

    pub fn device(&self, email: &str, device_id: &str) -> TestDevice {
        TestDevice::new(self.client(), email, PASSWORD, device_id)
    }

    /// The server's database, opened beside it, and the id of `email`'s account.
    pub fn store_and_user(&self, email: &str) -> (easd::store::Store, easd::store::UserId) {
        let store = easd::store::Store::open(&self.db).expect("open the server's database");
        let user = store.user_by_email(email).unwrap().expect("the account").id;
        (store, user)
    }

    /// A device of `email` speaking protocol `version`.
    pub fn device_speaking(&self, email: &str, device_id: &str, version: &str) -> TestDevice {
        let mut device = self.device(email, device_id);
        device.version = version.to_string();
        device
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM first, so the server removes its private runtime directory in /tmp;
            // SIGKILL only if it does not stop promptly.
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: signals our own child process, which has not been reaped yet.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // EASD_KEEP_TEST_DIRS=1 keeps each server's directory (its log) for a post-mortem.
        if std::env::var_os("EASD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn easd_cli(config: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    easd_cli_with_env(config, args, input, &[])
}

/// [`easd_cli`] with `env` added to the command's environment.
pub fn easd_cli_with_env(
    config: &Path,
    args: &[&str],
    input: Option<&[u8]>,
    env: &[(String, String)],
) -> Output {
    let mut command = Command::new(easd_binary());
    command.arg("--config").arg(config).args(args);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("easd cli");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
    }
    child.wait_with_output().expect("easd output")
}

// ---------------------------------------------------------------------------------------------
// HTTP

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One keep-alive HTTP/1.1 connection (plain or TLS), reopened when the server closes it.
pub struct HttpClient {
    addr: SocketAddr,
    tls: bool,
    stream: Option<Box<dyn Stream>>,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HttpClient {
    pub fn plain(addr: SocketAddr) -> HttpClient {
        HttpClient {
            addr,
            tls: false,
            stream: None,
        }
    }

    pub fn tls(addr: SocketAddr) -> HttpClient {
        HttpClient {
            addr,
            tls: true,
            stream: None,
        }
    }

    fn connect(&self) -> Box<dyn Stream> {
        let tcp = TcpStream::connect(self.addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(30))).ok();
        if self.tls {
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let conn = rustls::ClientConnection::new(tls_client_config(), name).expect("tls");
            Box::new(rustls::StreamOwned::new(conn, tcp))
        } else {
            Box::new(tcp)
        }
    }

    /// Sends raw bytes as one request and reads one response.
    pub fn raw(&mut self, request: &[u8]) -> HttpResponse {
        let mut first_failure = String::new();
        for attempt in 0..2 {
            if self.stream.is_none() {
                self.stream = Some(self.connect());
            }
            let stream = self.stream.as_mut().expect("stream");
            let sent = stream.write_all(request).and_then(|()| stream.flush());
            match sent.and_then(|()| read_response(stream.as_mut())) {
                Ok(Some(response)) => {
                    if response
                        .header("Connection")
                        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                    {
                        self.stream = None;
                    }
                    return response;
                }
                // A keep-alive connection the server closed meanwhile: reconnect once.
                failure if attempt == 0 => {
                    first_failure = format!("{failure:?}");
                    self.stream = None;
                }
                failure => panic!(
                    "no HTTP response from {} (tls: {}): {failure:?}; first try: {first_failure}",
                    self.addr, self.tls
                ),
            }
        }
        unreachable!("the second attempt returns or panics")
    }

    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    pub fn close(&mut self) {
        self.stream = None;
    }
}

/// One `read`, again when a signal interrupted it.
fn read_retrying(stream: &mut dyn Stream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads one HTTP response; `Ok(None)` when the connection was closed before any byte.
pub fn read_response(stream: &mut dyn Stream) -> std::io::Result<Option<HttpResponse>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = parsed
            .parse(&buf)
            .map_err(|e| std::io::Error::other(e.to_string()))?
        {
            let status = parsed.code.unwrap_or(0);
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).to_string(),
                    )
                })
                .collect();
            let mut rest = buf[head_len..].to_vec();
            let find = |n: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            };
            if status == 100 {
                buf = rest;
                continue;
            }
            let body = if find("Transfer-Encoding").is_some_and(|v| v.contains("chunked")) {
                read_chunked(stream, rest)?
            } else {
                let length: usize = find("Content-Length")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while rest.len() < length {
                    let n = read_retrying(stream, &mut chunk)?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    rest.extend_from_slice(&chunk[..n]);
                }
                rest.truncate(length);
                rest
            };
            return Ok(Some(HttpResponse {
                status,
                headers,
                body,
            }));
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A signal reached this thread (seen under parallel tests): read again, as
            // phones do, instead of mistaking it for a closed connection.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if buf.is_empty() && e.kind() != std::io::ErrorKind::WouldBlock => {
                return if e.kind() == std::io::ErrorKind::TimedOut {
                    Err(e)
                } else {
                    Ok(None)
                }
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn read_chunked(stream: &mut dyn Stream, mut data: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut fill = |data: &mut Vec<u8>| -> std::io::Result<()> {
        let n = read_retrying(stream, &mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    loop {
        let line_end = loop {
            if let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
                break pos;
            }
            fill(&mut data)?;
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        data.drain(..line_end + 2);
        if size == 0 {
            while !data.windows(2).any(|w| w == b"\r\n") {
                fill(&mut data)?;
            }
            return Ok(body);
        }
        while data.len() < size + 2 {
            fill(&mut data)?;
        }
        body.extend_from_slice(&data[..size]);
        data.drain(..size + 2);
    }
}

/// A TLS client configuration that accepts the server's self-signed certificate.
pub fn tls_client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn basic_auth(login: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"))
    )
}

// ---------------------------------------------------------------------------------------------
// EAS

/// A phone: one account on one device, speaking EAS over one keep-alive connection.
pub struct TestDevice {
    pub http: HttpClient,
    pub login: String,
    pub password: String,
    pub device_id: String,
    pub device_type: String,
    pub version: String,
    pub user_agent: String,
    pub policy_key: Option<String>,
}

/// The answer to one EAS command.
#[derive(Debug)]
pub struct EasResponse {
    pub http: HttpResponse,
    pub doc: Option<Element>,
}

impl EasResponse {
    pub fn status(&self) -> u16 {
        self.http.status
    }

    pub fn doc(&self) -> &Element {
        self.doc.as_ref().expect("a WBXML body")
    }
}

impl TestDevice {
    pub fn new(http: HttpClient, login: &str, password: &str, device_id: &str) -> TestDevice {
        TestDevice {
            http,
            login: login.to_string(),
            password: password.to_string(),
            device_id: device_id.to_string(),
            device_type: "TestPhone".to_string(),
            version: "16.1".to_string(),
            user_agent: "easd-test/1.0".to_string(),
            policy_key: None,
        }
    }

    /// The plain query string for a command.
    pub fn query(&self, cmd: &str) -> String {
        format!(
            "Cmd={cmd}&User={}&DeviceId={}&DeviceType={}",
            percent(&self.login),
            percent(&self.device_id),
            percent(&self.device_type)
        )
    }

    fn headers(&self) -> Vec<(String, String)> {
        let mut headers = vec![
            (
                "Authorization".to_string(),
                basic_auth(&self.login, &self.password),
            ),
            ("MS-ASProtocolVersion".to_string(), self.version.clone()),
            ("User-Agent".to_string(), self.user_agent.clone()),
            (
                "Content-Type".to_string(),
                "application/vnd.ms-sync.wbxml".to_string(),
            ),
        ];
        if let Some(key) = &self.policy_key {
            headers.push(("X-MS-PolicyKey".to_string(), key.clone()));
        }
        headers
    }

    /// POSTs a command with a WBXML body (or none) using the plain query form.
    pub fn command(&mut self, cmd: &str, body: Option<&Element>) -> EasResponse {
        let target = format!("/Microsoft-Server-ActiveSync?{}", self.query(cmd));
        let bytes = body.map(wbxml::encode).unwrap_or_default();
        self.post(&target, &bytes)
    }

    /// POSTs raw bytes to an EAS target with this device's headers.
    pub fn post(&mut self, target: &str, body: &[u8]) -> EasResponse {
        let headers = self.headers();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let http = self.http.request("POST", target, &refs, body);
        let doc = if http.status == 200 && !http.body.is_empty() {
            Some(wbxml::decode(&http.body).expect("the server's WBXML decodes"))
        } else {
            None
        };
        EasResponse { http, doc }
    }

    pub fn options(&mut self) -> HttpResponse {
        let auth = basic_auth(&self.login, &self.password);
        self.http.request(
            "OPTIONS",
            "/Microsoft-Server-ActiveSync",
            &[("Authorization", &auth)],
            b"",
        )
    }
}

/// Bytes that survive no accidental text conversion: every byte value, many times.
pub fn attachment_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

/// A message from `from` to `to` (header values) with a short text and `attachment` as
/// `data.bin`, base64 in 76-column lines.
pub fn message_with_attachment(from: &str, to: &str, subject: &str, attachment: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let mut raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0und\"\r\n\r\n\
         --b0und\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n\
         --b0und\r\nContent-Type: application/x-test; name=\"data.bin\"\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"--b0und--\r\n");
    raw
}

/// The id of `user`'s default folder of `kind`.
pub fn folder(
    store: &easd::store::Store,
    user: easd::store::UserId,
    kind: easd::store::FolderType,
) -> easd::store::FolderId {
    store
        .folders_of(user)
        .unwrap()
        .into_iter()
        .find(|f| f.folder_type == kind)
        .expect("default folder")
        .id
}

/// One Collection of a Sync request: the key, the collection (a folder id or a view's
/// ServerId), then what `fill` adds (Options, Commands, ...).
pub fn collection(
    key: &str,
    id: impl std::fmt::Display,
    fill: impl FnOnce(&mut Element),
) -> Element {
    use easd::wbxml::tag::airsync;
    let mut c = Element::new(airsync::COLLECTION);
    c.push_text(airsync::SYNC_KEY, key)
        .push_text(airsync::COLLECTION_ID, id.to_string());
    fill(&mut c);
    c
}

/// Options with a FilterType, for [`collection`]'s `fill` (none: no Options).
pub fn filter_options(filter: Option<&str>) -> impl FnOnce(&mut Element) + '_ {
    use easd::wbxml::tag::airsync;
    move |c| {
        if let Some(filter) = filter {
            c.push(Element::new(airsync::OPTIONS))
                .push_text(airsync::FILTER_TYPE, filter);
        }
    }
}

/// A Sync request of the one collection `c`.
pub fn sync_request(c: Element) -> Element {
    use easd::wbxml::tag::airsync;
    let mut doc = Element::new(airsync::SYNC);
    doc.push(Element::new(airsync::COLLECTIONS)).push(c);
    doc
}

/// Sends a Sync of one collection and returns the collection of the answer (HTTP 200
/// expected; the answer is also decoded by libwbxml where installed).
pub fn sync_one(device: &mut TestDevice, c: Element) -> Element {
    use easd::wbxml::tag::airsync;
    let response = device.command("Sync", Some(&sync_request(c)));
    assert_eq!(response.status(), 200, "{:?}", response.http);
    libwbxml_agrees(&response.http.body, "<Sync");
    response
        .doc()
        .child(airsync::COLLECTIONS)
        .and_then(|l| l.child(airsync::COLLECTION))
        .cloned()
        .unwrap_or_else(|| panic!("a collection in {:?}", response.doc()))
}

/// The commands of a Sync collection answer as (tag, ServerId).
pub fn command_ids(c: &Element) -> Vec<(easd::wbxml::Tag, String)> {
    use easd::wbxml::tag::airsync;
    c.child(airsync::COMMANDS)
        .map(|list| {
            list.elements()
                .map(|e| (e.tag, e.child_text(airsync::SERVER_ID).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends Search with this Store name, Query and Options; returns the Store of the answer.
pub fn search_store(
    device: &mut TestDevice,
    name: &str,
    query: Element,
    options: Vec<Element>,
) -> Element {
    use easd::wbxml::tag::search as s;
    let mut doc = Element::new(s::SEARCH);
    let store = doc.push(Element::new(s::STORE));
    store.push_text(s::NAME, name);
    store.push(query);
    if !options.is_empty() {
        let o = store.push(Element::new(s::OPTIONS));
        for option in options {
            o.push(option);
        }
    }
    let response = device.command("Search", Some(&doc));
    assert_eq!(response.status(), 200);
    libwbxml_agrees(&response.http.body, "Search");
    let answer = response.doc().clone();
    assert_eq!(answer.child_text(s::STATUS).as_deref(), Some("1"));
    answer
        .child(s::RESPONSE)
        .and_then(|r| r.child(s::STORE))
        .expect("a Store")
        .clone()
}

/// The policy type of EAS provisioning (MS-ASPROV).
pub const EAS_POLICY_TYPE: &str = "MS-EAS-Provisioning-WBXML";

/// A Provision request for `policy_type`: phase one, or with `ack` (the temporary key and the
/// device's Status) phase two.
pub fn provision_request(policy_type: &str, ack: Option<(&str, &str)>) -> Element {
    use easd::wbxml::tag::provision as prov;
    let mut doc = Element::new(prov::PROVISION);
    let policy = doc
        .push(Element::new(prov::POLICIES))
        .push(Element::new(prov::POLICY));
    policy.push_text(prov::POLICY_TYPE, policy_type);
    if let Some((key, status)) = ack {
        policy
            .push_text(prov::POLICY_KEY, key)
            .push_text(prov::STATUS, status);
    }
    doc
}

/// The PolicyKey of a Provision answer.
pub fn policy_key(answer: &Element) -> String {
    use easd::wbxml::tag::provision as prov;
    answer
        .child(prov::POLICIES)
        .and_then(|p| p.child(prov::POLICY))
        .and_then(|p| p.child_text(prov::POLICY_KEY))
        .expect("a policy key")
}

/// Provisions `device` as a phone under a policy does: phase one, then phase two
/// acknowledging the temporary key; the device carries the final key afterwards.
pub fn provision(device: &mut TestDevice) {
    let first = device.command("Provision", Some(&provision_request(EAS_POLICY_TYPE, None)));
    assert_eq!(first.status(), 200, "{:?}", first.http);
    let temporary = policy_key(first.doc());
    let ack = provision_request(EAS_POLICY_TYPE, Some((&temporary, "1")));
    let second = device.command("Provision", Some(&ack));
    assert_eq!(second.status(), 200, "{:?}", second.http);
    device.policy_key = Some(policy_key(second.doc()));
}

/// A Provision acknowledging a wipe: `kind` is RemoteWipe or AccountOnlyRemoteWipe, Status 1.
pub fn wipe_ack(kind: easd::wbxml::Tag) -> Element {
    use easd::wbxml::tag::provision as prov;
    let mut ack = Element::new(prov::PROVISION);
    ack.push(Element::new(kind)).push_text(prov::STATUS, "1");
    ack
}

/// A provisioned device with a full wipe pending is told so (FolderSync Status 140), gets
/// RemoteWipe from Provision and acknowledges it.
pub fn acknowledge_remote_wipe(device: &mut TestDevice) {
    use easd::wbxml::tag::provision as prov;
    assert_eq!(folder_sync_status(device), "140");
    let answer = device.command("Provision", Some(&provision_request(EAS_POLICY_TYPE, None)));
    assert!(
        answer.doc().child(prov::REMOTE_WIPE).is_some(),
        "{:?}",
        answer.doc()
    );
    device.command("Provision", Some(&wipe_ack(prov::REMOTE_WIPE)));
}

/// The Status of a FolderSync from key 0 by a 14.0+ device (HTTP 200 expected; the answer
/// is also decoded by libwbxml where installed).
pub fn folder_sync_status(device: &mut TestDevice) -> String {
    use easd::wbxml::tag::folder_hierarchy as fh;
    let mut doc = Element::new(fh::FOLDER_SYNC);
    doc.push_text(fh::SYNC_KEY, "0");
    let response = device.command("FolderSync", Some(&doc));
    assert_eq!(response.status(), 200, "{:?}", response.http);
    libwbxml_agrees(&response.http.body, "FolderSync");
    response
        .doc()
        .child_text(fh::STATUS)
        .expect("a FolderSync Status")
}

pub fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where libwbxml is installed, it decodes `bytes` too and names `root` (an element) in them.
pub fn libwbxml_agrees(bytes: &[u8], root: &str) {
    if let Some(xml) = libwbxml_decode(bytes) {
        assert!(xml.contains(root), "{xml}");
    }
}

/// Decodes `bytes` with libwbxml's wbxml2xml, an implementation nobody here wrote; `None` when
/// libwbxml2-utils is not installed.
pub fn libwbxml_decode(bytes: &[u8]) -> Option<String> {
    let dir = unique_dir();
    let input = dir.join("in.wbxml");
    let output = dir.join("out.xml");
    std::fs::write(&input, bytes).expect("write");
    let status = Command::new("wbxml2xml")
        .args(["-l", "ACTIVESYNC", "-o"])
        .arg(&output)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let result = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&output).ok(),
        Ok(s) => panic!("wbxml2xml could not decode our WBXML ({s})"),
        Err(_) => None,
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

// ---------------------------------------------------------------------------------------------
// Outgoing mail

/// A stand-in for sendmail as the `submission-command`: records its arguments and standard
/// input as `args-N` and `sent-N` in its own directory, or fails while [`Self::set_failing`].
pub struct SendmailRecorder {
    pub dir: PathBuf,
}

impl SendmailRecorder {
    pub fn new() -> SendmailRecorder {
        let dir = unique_dir();
        let script = dir.join("sendmail");
        std::fs::write(
            &script,
            "#!/bin/sh\n\
             dir=$(dirname \"$0\")\n\
             if [ -e \"$dir/fail\" ]; then cat >/dev/null; echo 'relay refused' >&2; exit 1; fi\n\
             n=$(ls \"$dir\" | grep -c '^sent-')\n\
             printf '%s\\n' \"$@\" > \"$dir/args-$n\"\n\
             cat > \"$dir/part-$n\"\n\
             mv \"$dir/part-$n\" \"$dir/sent-$n\"\n",
        )
        .expect("recorder script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("recorder script mode");
        SendmailRecorder { dir }
    }

    /// The configuration line that makes a server use this recorder.
    pub fn config(&self) -> String {
        format!(
            "submission-command = {} -i",
            self.dir.join("sendmail").display()
        )
    }

    /// How many messages it received.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .expect("recorder dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("sent-"))
            .count()
    }

    /// Waits (up to a generous deadline) until it received `n` messages: the server sends
    /// its own mail (meeting invitations, answers) from its outbox after answering the phone.
    pub fn wait_for_count(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "the submission command got {} message(s), not {n}",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Message `n` as it arrived on standard input.
    pub fn sent(&self, n: usize) -> Vec<u8> {
        std::fs::read(self.dir.join(format!("sent-{n}"))).expect("recorded message")
    }

    /// Message `n` as text.
    pub fn sent_text(&self, n: usize) -> String {
        String::from_utf8_lossy(&self.sent(n)).into_owned()
    }

    /// The arguments easd gave for message `n`.
    pub fn args(&self, n: usize) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("args-{n}")))
            .expect("recorded arguments")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// While failing, it reads the message and exits 1 with an error on standard error.
    pub fn set_failing(&self, failing: bool) {
        let flag = self.dir.join("fail");
        if failing {
            std::fs::write(flag, b"").expect("fail flag");
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }
}

impl Drop for SendmailRecorder {
    fn drop(&mut self) {
        // EASD_KEEP_TEST_DIRS=1 keeps each server's directory (its log) for a post-mortem.
        if std::env::var_os("EASD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A UDP port free right now, for a server's change notifications (`notify`): tests run in
/// parallel, so each server needs its own. The port must stay free while its server is killed and
/// restarted (`kill_and_restart` binds it again), so it comes from below the kernel's ephemeral
/// range (32768 and up on Linux), which client sockets and port-0 binds draw from, and no port is
/// handed out twice by one test process. The start depends on the process id so that test
/// programs run side by side (other checkouts) rarely meet; each candidate is still probed.
pub fn free_udp_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() % 440) * 50,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port between {FIRST} and {}", FIRST + SPAN);
}
