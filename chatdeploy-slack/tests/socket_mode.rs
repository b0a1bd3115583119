#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
//! The Socket Mode listener against the fake Web API and Socket Mode server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use chatdeploy_core::chat::ButtonAction;
use chatdeploy_core::chat::{ChatEvent, ChatEventKind, EventHandler};
use chatdeploy_slack::fake::{FakeSlackApi, FakeSocketModeServer, payloads};
use chatdeploy_slack::{SocketModeError, SocketModeListener};
use support::{Gate, Recorder};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(5);

struct Running {
    api: FakeSlackApi,
    server: FakeSocketModeServer,
    recorder: Arc<Recorder>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), SocketModeError>>,
}

async fn start() -> Running {
    let recorder = Recorder::new();
    start_with(recorder.clone(), recorder, |listener| listener).await
}

async fn start_with(
    handler: Arc<dyn EventHandler>,
    recorder: Arc<Recorder>,
    configure: impl FnOnce(SocketModeListener) -> SocketModeListener,
) -> Running {
    let api = FakeSlackApi::start().await.unwrap();
    let server = FakeSocketModeServer::start().await.unwrap();
    api.set_socket_url(server.url());
    let listener = SocketModeListener::new("xapp-1-test", handler);
    let listener = configure(listener)
        .with_api_url(api.api_url())
        .with_bot_user(api.bot_user())
        .with_reconnect_backoff(Duration::from_millis(20), Duration::from_millis(100));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(listener.run(async {
        let _ = stopped.await;
    }));
    assert!(
        server.wait_for_connections(1, WAIT).await,
        "listener connected"
    );
    Running {
        api,
        server,
        recorder,
        stop: Some(stop),
        task,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_are_acked_and_translated() {
    let run = start().await;
    let open = run.api.calls_to("apps.connections.open");
    assert_eq!(open[0].auth.as_deref(), Some("Bearer xapp-1-test"));
    // The connection used the ticket handed to this caller.
    let tickets = run.api.socket_tickets();
    assert_eq!(tickets[0].auth.as_deref(), Some("Bearer xapp-1-test"));
    let ticket = run.server.connection_list()[0].ticket.clone();
    assert_eq!(ticket.as_deref(), Some(tickets[0].ticket.as_str()));

    let mention = payloads::event_callback(
        "Ev1",
        payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> deploy app r-1.0.0", "1.1"),
    );
    assert!(run.server.push_events_api("env-1", 0, mention));
    let command = payloads::slash_command(
        "U2",
        "C1",
        "lock app &lt;freeze&gt; &amp; <#C9|ops>",
        "trigger-2",
    );
    assert!(run.server.push_slash_command("env-2", command));
    let click = payloads::block_actions("U3", "C1", "2.2", ButtonAction::Reject.id(), "d-9");
    assert!(run.server.push_interactive("env-3", click));
    // The bot's own direct message is acked but not handed on.
    let own = payloads::event_callback(
        "Ev4",
        payloads::direct_message("U0DEPLOYBOT", "D1", "hi", "3.3"),
    );
    assert!(run.server.push_events_api("env-4", 0, own));

    assert!(run.server.wait_for_acks(4, WAIT).await);
    assert_eq!(run.server.acks(), ["env-1", "env-2", "env-3", "env-4"]);
    let mut events = run.recorder.wait_for(3).await;
    events.sort_by(|a, b| a.user.cmp(&b.user));
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[0],
        ChatEvent::command("Ev1", "U1", "C1", "deploy app r-1.0.0").with_message("1.1")
    );
    assert_eq!(
        events[1],
        ChatEvent::command("trigger-2", "U2", "C1", "lock app <freeze> & #ops")
    );
    assert_eq!(
        events[2].kind,
        ChatEventKind::Button {
            action: ButtonAction::Reject,
            deployment: "d-9".into()
        }
    );
    assert_eq!(run.recorder.settle().await.len(), 3);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_envelope_is_handled_once() {
    let run = start().await;
    let event = payloads::event_callback(
        "EvRetry",
        payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> status", "1.1"),
    );
    assert!(run.server.push_events_api("env-a", 0, event.clone()));
    // The same envelope again, and the event redelivered in a new envelope.
    assert!(run.server.push_events_api("env-a", 0, event.clone()));
    assert!(run.server.push_events_api("env-b", 1, event));
    assert!(run.server.wait_for_acks(3, WAIT).await);
    assert_eq!(
        run.server.acks(),
        ["env-a", "env-a", "env-b"],
        "every delivery is acked"
    );
    assert_eq!(run.recorder.settle().await.len(), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_causes_a_reconnect() {
    let run = start().await;
    assert!(run.server.push_disconnect());
    assert!(
        run.server.wait_for_connections(2, WAIT).await,
        "reconnected"
    );
    assert_eq!(run.api.calls_to("apps.connections.open").len(), 2);
    let event = payloads::event_callback(
        "EvAfter",
        payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> help", "1.1"),
    );
    assert!(run.server.push_events_api("env-after", 0, event));
    assert_eq!(run.recorder.wait_for(1).await.len(), 1);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_reopened() {
    let run = start().await;
    run.server.drop_connection();
    assert!(
        run.server.wait_for_connections(2, WAIT).await,
        "reconnected after the socket closed"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_token_is_refused_with_a_clear_error() {
    let api = FakeSlackApi::start().await.unwrap();
    let listener = SocketModeListener::new("xoxb-not-an-app-token", Recorder::new())
        .with_api_url(api.api_url());
    let err = tokio::time::timeout(WAIT, listener.run(std::future::pending()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, SocketModeError::Refused { code } if code == "not_allowed_token_type"),
        "{err:?}"
    );
}

/// The preflight check of the app token: accepted, refused, unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_token_check_tells_accepted_refused_and_unreachable_apart() {
    let api = FakeSlackApi::start().await.unwrap();
    api.set_socket_url("ws://127.0.0.1:9/");
    SocketModeListener::check_app_token("xapp-1-test", &api.api_url())
        .await
        .unwrap();
    let refused = SocketModeListener::check_app_token("xoxb-not-an-app-token", &api.api_url())
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SocketModeError::Refused { code } if code == "not_allowed_token_type"),
        "{refused:?}"
    );
    // A closed port: nothing listens on port 9 of loopback here.
    let unreachable = SocketModeListener::check_app_token("xapp-1-test", "http://127.0.0.1:9/api/")
        .await
        .unwrap_err();
    assert!(
        matches!(&unreachable, SocketModeError::Unreachable { .. }),
        "{unreachable:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_holds_the_next_envelope_unacked_until_there_is_room() {
    let gate = Gate::new();
    let run = start_with(gate.clone(), Recorder::new(), |listener| {
        listener.with_max_in_flight(1)
    })
    .await;
    let mention = |id: &str| {
        payloads::event_callback(
            id,
            payloads::app_mention("U1", "C1", "<@U0DEPLOYBOT> status", "1.1"),
        )
    };
    assert!(run.server.push_events_api("env-1", 0, mention("EvHeld")));
    assert!(run.server.wait_for_acks(1, WAIT).await);
    assert_eq!(gate.wait_for(1).await, ["EvHeld"]);

    assert!(run.server.push_events_api("env-2", 0, mention("EvNext")));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        run.server.acks(),
        ["env-1"],
        "not acked while there is no room"
    );
    assert_eq!(gate.ids(), ["EvHeld"]);

    gate.release(2);
    assert!(run.server.wait_for_acks(2, WAIT).await);
    assert_eq!(run.server.acks(), ["env-1", "env-2"]);
    assert_eq!(gate.wait_for(2).await, ["EvHeld", "EvNext"]);
    // Slack's redelivery of an envelope acked late is still a repeat.
    assert!(run.server.push_events_api("env-2", 1, mention("EvNext")));
    assert!(run.server.wait_for_acks(3, WAIT).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(gate.ids(), ["EvHeld", "EvNext"]);
    run.stop().await;
}
