//! Resync rate control (DRBD 8.4 `drbd_rs_controller`, spec §4.4).
//!
//! The SyncTarget drives the resync (8.4 model): every 100 ms step it asks the controller how
//! many sectors to request. Two modes:
//!
//! * fixed rate (`c-plan-ahead 0`): `resync-rate × 0.1 s` per step;
//! * dynamic controller (`c-plan-ahead > 0`): a FIFO of `c-plan-ahead` planned corrections.
//!   Each step it measures `sect_in` (sectors that arrived since the last step) and
//!   `in_flight`, computes how much should be in flight (`c-fill-target` sectors, or
//!   `sect_in × c-delay-target` when the fill target is 0), spreads the difference over the
//!   FIFO, pops this step's share and requests `sect_in + share`, clamped to `c-max-rate`.
//!
//! `c-min-rate` throttling: when the application did at least 64 sectors of I/O in the last
//! step and the resync ran faster than `c-min-rate` over the last 30 steps (≈3 s), the step
//! requests nothing.

use super::config::ResyncRate;

/// Length of one controller step in milliseconds (SLEEP_TIME = HZ/10).
pub const STEP_MS: u64 = 100;
/// Window of the c-min-rate measurement, in steps.
const MIN_RATE_WINDOW: usize = 30;
/// Maximum FIFO length (c-plan-ahead range 0..300).
const MAX_PLAN: usize = 300;

/// Per-resync controller state.
#[derive(Clone, Debug)]
pub struct RateController {
    cfg: ResyncRate,
    plan: Vec<i64>,
    head: usize,
    plan_total: i64,
    history: [u64; MIN_RATE_WINDOW],
    hist_pos: usize,
}

impl RateController {
    /// New controller for one resync.
    pub fn new(cfg: ResyncRate) -> Self {
        let steps = (cfg.c_plan_ahead as usize).min(MAX_PLAN);
        RateController {
            cfg,
            plan: vec![0; steps.max(1)],
            head: 0,
            plan_total: 0,
            history: [0; MIN_RATE_WINDOW],
            hist_pos: 0,
        }
    }

    /// Sectors per step of a KiB/s rate.
    fn per_step(kib: u32) -> i64 {
        // KiB/s × 0.1 s × 2 sectors/KiB.
        (i64::from(kib) * 2 / 10).max(8)
    }

    /// One 100 ms step: `sect_in` sectors arrived since the last step, `in_flight` sectors are
    /// requested and not yet answered, `app_sectors` sectors of application I/O happened in the
    /// last step. Returns how many sectors to request now.
    pub fn step(&mut self, sect_in: u64, in_flight: u64, app_sectors: u64) -> u64 {
        self.history[self.hist_pos] = sect_in;
        self.hist_pos = (self.hist_pos + 1) % MIN_RATE_WINDOW;
        if self.throttled(app_sectors) {
            return 0;
        }
        if self.cfg.c_plan_ahead == 0 {
            return Self::per_step(self.cfg.resync_rate_kib) as u64;
        }
        let steps = self.plan.len() as i64;
        let sect_in = sect_in as i64;
        let in_flight = in_flight as i64;
        let want = if sect_in + in_flight == 0 {
            Self::per_step(self.cfg.resync_rate_kib) * steps
        } else if self.cfg.c_fill_target != 0 {
            i64::from(self.cfg.c_fill_target)
        } else {
            sect_in * i64::from(self.cfg.c_delay_target) * 10 / 10
        };
        let correction = want - in_flight - self.plan_total;
        let per_slot = correction / steps;
        for slot in self.plan.iter_mut() {
            *slot += per_slot;
        }
        self.plan_total += per_slot * steps;
        let popped = self.plan[self.head];
        self.plan[self.head] = 0;
        self.plan_total -= popped;
        self.head = (self.head + 1) % self.plan.len();
        let req = (sect_in + popped).clamp(0, Self::per_step(self.cfg.c_max_rate_kib));
        req as u64
    }

    fn throttled(&self, app_sectors: u64) -> bool {
        if self.cfg.c_min_rate_kib == 0 || app_sectors < 64 {
            return false;
        }
        let total: u64 = self.history.iter().sum();
        // Average KiB/s over the window: sectors/2 per (window × 0.1 s).
        let kib_s = total / 2 * 10 / MIN_RATE_WINDOW as u64;
        kib_s > u64::from(self.cfg.c_min_rate_kib)
    }

    /// Maximum sectors in flight (half of the peer's receive buffers of 4 KiB pages).
    pub fn max_in_flight_sectors(&self) -> u64 {
        u64::from(self.cfg.max_buffers / 2).max(1) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_rate_requests_rate_per_step() {
        let cfg = ResyncRate { c_plan_ahead: 0, resync_rate_kib: 10_240, ..ResyncRate::default() };
        let mut c = RateController::new(cfg);
        // 10 MiB/s = 1 MiB per 100 ms = 2048 sectors.
        assert_eq!(c.step(0, 0, 0), 2048);
        assert_eq!(c.step(5000, 100, 0), 2048);
    }

    #[test]
    fn controller_converges_to_fill_target_and_respects_max_rate() {
        let cfg = ResyncRate { c_fill_target: 1000, ..ResyncRate::default() };
        let mut c = RateController::new(cfg);
        // A link with one step of latency: what was requested last step is in flight, what
        // was requested two steps ago arrives now.
        let (mut one_ago, mut two_ago) = (0u64, 0u64);
        let mut last = 0;
        for _ in 0..300 {
            let req = c.step(two_ago, one_ago, 0);
            two_ago = one_ago;
            one_ago = req;
            last = req;
        }
        assert!((500..=1500).contains(&last), "steady request {last}");
        let cfg =
            ResyncRate { c_fill_target: 1 << 20, c_max_rate_kib: 1000, ..ResyncRate::default() };
        let mut c = RateController::new(cfg);
        assert!(c.step(100, 100, 0) <= 200);
    }

    #[test]
    fn min_rate_throttles_only_with_app_io() {
        let cfg = ResyncRate { c_plan_ahead: 0, resync_rate_kib: 100_000, ..ResyncRate::default() };
        let mut c = RateController::new(cfg);
        for _ in 0..30 {
            c.step(20_000, 0, 0);
        }
        assert_eq!(c.step(20_000, 0, 128), 0);
        assert!(c.step(20_000, 0, 0) > 0);
    }
}
