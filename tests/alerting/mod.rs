//! Shared by tests/alerts.rs and tests/alert_loop.rs: plain HTTP on loopback (a
//! client, and a notification sink that records what it receives), Alertmanager
//! payloads, and the controller started with its alert receiver and sinks.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 POST to 127.0.0.1:`port`: (status code, body). Write errors are
/// ignored (a server may answer before it read a body it refuses).
pub fn post(port: u16, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// One request a [`Sink`] received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

/// A notification sink on loopback: answers 200 to every POST and records it.
#[derive(Clone)]
pub struct Sink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let record = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        Sink { port, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What arrived on `path` so far.
    pub fn on(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

fn serve(stream: TcpStream, record: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        record.lock().unwrap().push(Received {
            path,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            at: Instant::now(),
        });
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// An alert as Alertmanager's webhook sends it.
pub fn alert(status: &str, labels: Value, fingerprint: &str) -> Value {
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": "test alert"},
        "startsAt": "2026-12-03T12:00:00Z",
        "endsAt": if status == "resolved" { "2026-12-03T12:10:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus.invalid:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    })
}

/// A version 4 payload of `alerts`.
pub fn payload(alerts: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "receiver": "kubedx", "status": "firing", "version": "4",
        "groupKey": "{}:{}", "truncatedAlerts": 0,
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": alerts,
    }))
    .unwrap()
}

/// Writes `token` to a file under `dir` and returns its path.
pub fn token_file(dir: &std::path::Path, token: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("alert-token-{}", free_port()));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path.to_string_lossy().into_owned()
}
