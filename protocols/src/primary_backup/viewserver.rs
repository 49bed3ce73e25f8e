//! The view server: it hears every server's pings, declares a server dead
//! after `dead_pings` silent intervals, and moves to a new view only when
//! the primary has acknowledged the current one.
//!
//! It decides only at its ticks, every ping interval, never on a ping's
//! arrival: by a tick every live server's latest ping has arrived (latency
//! is below the interval), so which server becomes primary or backup does
//! not depend on the order in which pings happened to land.

use super::msg::{Msg, Record, Timer, View};
use super::params::{Bug, Params};
use super::{Node, server_index};
use sim_core::{Ctx, NodeId, SimTime, ms};

/// One view as the view server started it. Instrumentation: the log
/// survives crashes (it describes the run, not the server's memory).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ViewRecord {
    pub at: SimTime,
    pub view: View,
    /// When its primary acknowledged it, if it did.
    pub acked_at: Option<SimTime>,
}

/// The view server node.
#[derive(Clone, Debug)]
pub struct ViewServer {
    params: Params,
    servers: usize,
    // Durable: the current view is on disk.
    view: View,
    // Volatile.
    /// Whether the primary of `view` has acknowledged it.
    acked: bool,
    /// When each server (by index) last pinged, in this life of the view server.
    last_ping: Vec<Option<SimTime>>,
    /// The view number each server last pinged with.
    last_ping_view: Vec<u64>,
    /// The primary or backup pinged with view 0: it restarted and lost its
    /// state, so it must not count as alive in its role.
    primary_lost: bool,
    backup_lost: bool,
    log: Vec<ViewRecord>,
}

impl ViewServer {
    pub fn new(params: Params, servers: usize) -> ViewServer {
        ViewServer {
            params,
            servers,
            view: View::default(),
            acked: false,
            last_ping: vec![None; servers],
            last_ping_view: vec![0; servers],
            primary_lost: false,
            backup_lost: false,
            log: Vec::new(),
        }
    }

    /// Every view started, in order.
    pub fn log(&self) -> &[ViewRecord] {
        &self.log
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.view
    }

    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.set_timer(ms(self.params.ping_interval_ms), Timer::Tick);
    }

    pub fn on_crash(&mut self) {
        self.view = View::default();
        self.acked = false;
        self.last_ping.fill(None);
        self.last_ping_view.fill(0);
        self.primary_lost = false;
        self.backup_lost = false;
    }

    /// Back from the disk's last view. Its primary and backup get a full
    /// dead interval to ping again before they are judged, as if they had
    /// just pinged; the primary must acknowledge the view again.
    pub fn on_recover(&mut self, ctx: &mut Ctx<'_, Node>) {
        let last = ctx.disk().synced().iter().rev().find_map(|r| match r {
            Record::View { view } => Some(*view),
            Record::Boot { .. } => None,
        });
        self.view = last.unwrap_or_default();
        let now = ctx.now();
        for n in [self.view.primary, self.view.backup].into_iter().flatten() {
            self.last_ping[server_index(n)] = Some(now);
            self.last_ping_view[server_index(n)] = self.view.num;
        }
        ctx.set_timer(ms(self.params.ping_interval_ms), Timer::Tick);
    }

    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Node>, timer: Timer) {
        assert_eq!(timer, Timer::Tick, "the view server sets only ticks");
        self.advance(ctx);
        ctx.set_timer(ms(self.params.ping_interval_ms), Timer::Tick);
    }

    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping { view } => self.on_ping(ctx, from, view),
            Msg::GetView => {}
            other => panic!("view server got {other:?} from {from:?}"),
        }
        ctx.send(from, Msg::ViewReply { view: self.view });
    }

    fn on_ping(&mut self, ctx: &mut Ctx<'_, Node>, from: NodeId, num: u64) {
        let i = server_index(from);
        assert!(i < self.servers, "ping from {from:?}, which is not a server");
        let now = ctx.now();
        self.last_ping[i] = Some(now);
        self.last_ping_view[i] = num;
        if self.view.primary == Some(from) {
            if num == self.view.num && !self.acked {
                self.acked = true;
                if let Some(last) = self.log.last_mut().filter(|r| r.view == self.view) {
                    last.acked_at = Some(now);
                }
            }
            // View 1's primary was chosen while it pinged with view 0: a
            // repeat of that is a reply it has not heard yet, not a restart.
            if num == 0 && (self.acked || self.view.num > 1) {
                self.primary_lost = true;
            }
        } else if self.view.backup == Some(from) && num == 0 {
            self.backup_lost = true;
        }
    }

    fn alive(&self, n: NodeId, now: SimTime) -> bool {
        let dead_ns = ms(self.params.ping_interval_ms).saturating_mul(u64::from(self.params.dead_pings));
        self.last_ping[server_index(n)].is_some_and(|t| now.since(t) <= dead_ns)
    }

    /// The lowest-numbered live server that is neither primary nor backup
    /// and has learned a view (so that a later ping of view 0 from it can
    /// only mean a restart).
    fn idle(&self, now: SimTime, except: [Option<NodeId>; 2]) -> Option<NodeId> {
        (0..self.servers)
            .map(super::server_id)
            .find(|&n| !except.contains(&Some(n)) && self.alive(n, now) && self.last_ping_view[server_index(n)] > 0)
    }

    /// Moves to the next view if the current one is acknowledged and needs
    /// changing: a dead primary is replaced by the backup (only the backup
    /// holds the state), a dead or missing backup by an idle server.
    fn advance(&mut self, ctx: &mut Ctx<'_, Node>) {
        let now = ctx.now();
        if self.view.num == 0 {
            // The service starts at the first tick with the lowest-numbered
            // server heard from as primary, alone, so that the first views
            // do not depend on which ping happened to arrive first.
            let first = (0..self.servers).map(super::server_id).find(|&n| self.alive(n, now));
            if let Some(p) = first {
                self.change(ctx, View { num: 1, primary: Some(p), backup: None });
            }
            return;
        }
        if !self.acked {
            return;
        }
        let View { num, primary, backup } = self.view;
        let primary = primary.expect("an acknowledged view has a primary");
        let primary_ok = self.alive(primary, now) && !self.primary_lost;
        let backup_ok = backup.filter(|&b| self.alive(b, now) && !self.backup_lost);
        let next = if !primary_ok {
            let idle = self.idle(now, [Some(primary), backup]);
            match (self.params.bug, idle, backup_ok) {
                (Bug::PromoteIdle, Some(i), b) => Some(View { num: num + 1, primary: Some(i), backup: b }),
                (_, _, Some(b)) => {
                    Some(View { num: num + 1, primary: Some(b), backup: self.idle(now, [Some(primary), Some(b)]) })
                }
                // Nobody else holds the state: wait for the primary.
                (_, _, None) => None,
            }
        } else if backup.is_some() && backup_ok.is_none() {
            Some(View { num: num + 1, primary: Some(primary), backup: self.idle(now, [Some(primary), backup]) })
        } else if backup.is_none() {
            self.idle(now, [Some(primary), None]).map(|i| View {
                num: num + 1,
                primary: Some(primary),
                backup: Some(i),
            })
        } else {
            None
        };
        if let Some(view) = next {
            self.change(ctx, view);
        }
    }

    fn change(&mut self, ctx: &mut Ctx<'_, Node>, view: View) {
        assert!(view.num == self.view.num + 1, "views are numbered in order: {:?} after {:?}", view, self.view);
        assert!(view.primary.is_some() && view.primary != view.backup, "bad view {view:?}");
        self.view = view;
        self.acked = false;
        self.primary_lost = false;
        self.backup_lost = false;
        ctx.disk().write(Record::View { view });
        ctx.disk().sync();
        self.log.push(ViewRecord { at: ctx.now(), view, acked_at: None });
    }
}
