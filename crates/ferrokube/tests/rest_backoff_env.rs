//! `KUBE_CLIENT_BACKOFF_BASE` / `KUBE_CLIENT_BACKOFF_DURATION` choose client-go's
//! exponential `URLBackoff`. Alone in its test binary, because it changes the process
//! environment that every client reads when it is built.

mod support;

use std::time::Duration;

use ferrokube::rest::{RESTClient, RateLimiterChoice};
use support::scripted::{AbortMode, ScriptedServer, Step};
use support::{pod_json, Reply};

fn script() -> Vec<Step> {
    let busy = || Step::Reply(Reply::status_error(503, "ServiceUnavailable", "busy").header("retry-after", "0"));
    vec![busy(), busy(), busy(), Step::Reply(Reply::json(200, pod_json("p", "1")))]
}

async fn gaps_with_default_config() -> Vec<Duration> {
    let s = ScriptedServer::start(script(), AbortMode::Eof).await;
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    RESTClient::new(&c).unwrap().get().resource("pods").do_raw().await.unwrap();
    s.gaps()
}

#[tokio::test(start_paused = true)]
async fn environment_chooses_the_backoff_manager() {
    std::env::remove_var("KUBE_CLIENT_BACKOFF_BASE");
    std::env::remove_var("KUBE_CLIENT_BACKOFF_DURATION");
    assert_eq!(gaps_with_default_config().await, [Duration::ZERO; 3], "NoBackoff by default");

    std::env::set_var("KUBE_CLIENT_BACKOFF_BASE", "1");
    std::env::set_var("KUBE_CLIENT_BACKOFF_DURATION", "3");
    assert_eq!(gaps_with_default_config().await, [1, 2, 3].map(Duration::from_secs), "URLBackoff from the env");

    std::env::set_var("KUBE_CLIENT_BACKOFF_DURATION", "three");
    assert_eq!(gaps_with_default_config().await, [Duration::ZERO; 3], "both must be integers");
}
