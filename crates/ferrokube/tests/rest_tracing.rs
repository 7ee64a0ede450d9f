//! The rate-limiter log lines and the `request` span, captured from `tracing`. Alone in
//! its test binary: `tracing` caches per call site whether anyone listens, and tests
//! running beside it without a subscriber could make it skip the span.

mod support;

use std::sync::{Arc, Mutex};

use ferrokube::rest::{BackoffChoice, RESTClient};
use support::scripted::{AbortMode, ScriptedServer, Step};
use support::{pod_json, Reply};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn long_rate_limiter_waits_are_logged_like_client_go() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = ScriptedServer::start(vec![Step::Reply(Reply::json(200, pod_json("p", "1")))], AbortMode::Eof).await;
    let mut c = s.config();
    c.qps = 0.5; // a token every 2 s
    c.burst = 1;
    c.backoff = BackoffChoice::Disabled;
    let c = RESTClient::new(&c).unwrap();
    c.get().resource("pods").do_raw().await.unwrap();
    c.get().resource("pods").do_raw().await.unwrap();
    let mut fast = s.config();
    fast.qps = 10.0; // a token every 100 ms
    fast.burst = 1;
    let fast = RESTClient::new(&fast).unwrap();
    fast.get().resource("nodes").do_raw().await.unwrap();
    fast.get().resource("nodes").do_raw().await.unwrap();

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("Waited for")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("WARN"), "over 1 s: warn: {}", lines[0]);
    assert!(
        lines[0].contains(&format!(
            "Waited for 2s due to client-side throttling, not priority and fairness, request: GET:{}/api/v1/pods",
            s.url
        )),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("request{verb=GET url="), "inside the request span: {}", lines[0]);
    assert!(lines[1].contains("INFO") && lines[1].contains("Waited for 100ms"), "{}", lines[1]);
}
