//! The live link: what the server tells signed-in desktops (`TeamEvent`s), kept in the
//! `team_events` table with a cursor each, so a desktop that reconnects misses nothing, and
//! pushed over Server-Sent Events (`GET /api/v1/events`). Presence goes up over REST; the
//! server turns what desktops say (and their silence) into presence events here.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use ringdesk_core::team::{Device, Presence, TeamEvent};
use ringdesk_core::UserId;
use ringdesk_store::{StoreError, TeamRepository};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch, Mutex, Notify};
use tokio_stream::wrappers::ReceiverStream;

/// How many events are kept for catching up (older cursors get a resync).
const KEEP: i64 = 10_000;
/// Events sent per database read while catching up.
const PAGE: i64 = 200;
/// How often a quiet link checks that its device is still signed in.
const RECHECK: Duration = Duration::from_secs(30);
/// How often silence is looked for (a desktop gone quiet turns offline).
const PRESENCE_TICK: Duration = Duration::from_secs(1);

pub struct Live {
    repo: TeamRepository,
    grace: Duration,
    /// The newest cursor: every open link wakes when it moves.
    latest: watch::Sender<i64>,
    /// Set when the server stops: every open link ends so shutdown is not held up.
    closing: watch::Sender<bool>,
    /// The presence last told to desktops, per agent.
    told: Mutex<HashMap<UserId, Presence>>,
    /// A desktop just spoke: look at presence now rather than at the next tick.
    spoke: Notify,
}

impl Live {
    pub fn new(repo: TeamRepository, grace: Duration) -> Live {
        Live {
            repo,
            grace,
            latest: watch::channel(0).0,
            closing: watch::channel(false).0,
            told: Mutex::new(HashMap::new()),
            spoke: Notify::new(),
        }
    }

    /// Keeps the event and wakes the links that may see it.
    pub async fn publish(&self, event: &TeamEvent) -> Result<i64, StoreError> {
        let body = serde_json::to_string(event)
            .map_err(|e| StoreError::Corrupt(format!("team event: {e}")))?;
        let id = self
            .repo
            .add_event(event.audience(), &body, OffsetDateTime::now_utc(), KEEP)
            .await?;
        self.latest.send_replace(id);
        Ok(id)
    }

    /// Publishes what changed; a failure is logged (the change itself was made, and the
    /// desktops' next full read shows it).
    pub async fn tell(&self, event: TeamEvent) {
        if let Err(e) = self.publish(&event).await {
            tracing::error!(error = %e, "cannot publish a team event");
        }
    }

    /// One of an agent's calls as the team journal has it now: their desktops hear it (a call
    /// nobody owns is news to no one).
    pub async fn tell_agent(&self, call: ringdesk_core::Call) {
        if call.user_id.is_some() {
            self.tell(TeamEvent::Call {
                call: Box::new(call),
            })
            .await;
        }
    }

    /// How many desktops have their live link open.
    pub fn links(&self) -> usize {
        self.latest.receiver_count()
    }

    pub fn spoke(&self) {
        self.spoke.notify_one();
    }

    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Compares every agent's presence with what desktops were told and tells the changes.
    pub async fn refresh_presence(&self) -> Result<(), StoreError> {
        let since = OffsetDateTime::now_utc() - self.grace;
        let now: HashMap<UserId, Presence> =
            self.repo.presences(since).await?.into_iter().collect();
        let mut told = self.told.lock().await;
        let mut changes: Vec<(UserId, Option<Presence>)> = now
            .iter()
            .filter(|(user, p)| told.get(user) != Some(p))
            .map(|(user, p)| (*user, Some(*p)))
            .collect();
        changes.extend(
            told.keys()
                .filter(|user| !now.contains_key(user))
                .map(|user| (*user, None)),
        );
        for (user_id, presence) in changes {
            self.publish(&TeamEvent::Presence { user_id, presence })
                .await?;
            match presence {
                Some(p) => told.insert(user_id, p),
                None => told.remove(&user_id),
            };
        }
        Ok(())
    }

    /// Watches presence until the server stops: at each tick, and at once when a desktop
    /// speaks.
    pub async fn watch_presence(self: Arc<Self>) {
        let mut closing = self.closing.subscribe();
        loop {
            if let Err(e) = self.refresh_presence().await {
                tracing::warn!(error = %e, "cannot look at presence");
            }
            tokio::select! {
                _ = tokio::time::sleep(PRESENCE_TICK) => {}
                _ = self.spoke.notified() => {}
                _ = closing.changed() => return,
            }
        }
    }

    /// The event stream of one desktop, from just after `since` (None: from now on). It
    /// starts with what was missed, then a `ready` event carrying the cursor, then live
    /// events; it ends when the device is revoked or the server stops.
    pub fn link(
        self: Arc<Self>,
        device: Device,
        since: Option<i64>,
        still_signed_in: impl Fn(Device) -> BoxFuture<'static, bool> + Send + Sync + 'static,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            // Ends when the desktop hangs up (the stream is dropped), is revoked, or the
            // server stops; there is nothing to report either way.
            let _ = self.feed(device, since, still_signed_in, tx).await;
        });
        Sse::new(ReceiverStream::new(rx).map(Ok)).keep_alive(KeepAlive::default())
    }

    async fn feed(
        &self,
        device: Device,
        since: Option<i64>,
        still_signed_in: impl Fn(Device) -> BoxFuture<'static, bool> + Send + Sync,
        tx: mpsc::Sender<Event>,
    ) -> Result<(), Gone> {
        let mut latest = self.latest.subscribe();
        let mut closing = self.closing.subscribe();
        if *closing.borrow_and_update() {
            return Ok(());
        }
        let mut cursor = match self.start(since).await? {
            Start::From(c) => c,
            Start::Resync(c) => {
                tx.send(frame(c, &TeamEvent::Resync)).await?;
                c
            }
        };
        let mut ready = false;
        loop {
            let page = self.repo.events_after(cursor, device.user_id, PAGE).await?;
            let full = page.len() as i64 == PAGE;
            for (id, body) in page {
                cursor = id;
                let revoked = matches!(
                    serde_json::from_str::<TeamEvent>(&body),
                    Ok(TeamEvent::Revoked { device_id }) if device_id == device.id
                );
                tx.send(Event::default().id(id.to_string()).event("team").data(body))
                    .await?;
                if revoked {
                    return Ok(());
                }
            }
            if full {
                continue;
            }
            if !ready {
                ready = true;
                let event = Event::default().id(cursor.to_string()).event("ready");
                tx.send(event.data("{}")).await?;
            }
            tokio::select! {
                changed = latest.changed() => changed.map_err(|_| Gone)?,
                _ = tokio::time::sleep(RECHECK) => {
                    if !still_signed_in(device.clone()).await {
                        return Ok(());
                    }
                }
                _ = closing.changed() => return Ok(()),
                _ = tx.closed() => return Ok(()),
            }
        }
    }

    async fn start(&self, since: Option<i64>) -> Result<Start, StoreError> {
        let span = self.repo.event_span().await?;
        let high = span.map_or(0, |(_, high)| high);
        Ok(match (since, span) {
            (None, _) => Start::From(high),
            // A cursor from before what is kept, or from another server's database.
            (Some(since), Some((low, high))) if since + 1 < low || since > high => {
                Start::Resync(high)
            }
            (Some(since), None) if since > 0 => Start::Resync(0),
            (Some(since), _) => Start::From(since),
        })
    }
}

/// Why a link stopped early: the desktop left, or the database failed (it reconnects).
struct Gone;

impl From<mpsc::error::SendError<Event>> for Gone {
    fn from(_: mpsc::error::SendError<Event>) -> Self {
        Gone
    }
}

impl From<StoreError> for Gone {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "live link: cannot read events");
        Gone
    }
}

enum Start {
    From(i64),
    Resync(i64),
}

fn frame(id: i64, event: &TeamEvent) -> Event {
    let body = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    Event::default().id(id.to_string()).event("team").data(body)
}
