//! Where a training step's time goes: wall time per phase, summed over the steps run
//! while [`Gan::phase_times`](super::Gan) is `Some`.
//!
//! The flex backend computes eagerly on the calling thread (with rayon inside an op), so
//! a phase's wall time is the work of its ops; autodiff defers only the backward pass,
//! which has phases of its own. Off by default; `cargo bench -p edgegan-train --bench
//! train_speed` prints the table for the fashion-cgan step.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One phase of a step, in the order the seed's algorithm runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// data batches, labels, noise and masks drawn on the host and made tensors
    Inputs,
    /// G's forward pass of a D step (its output detached)
    GForwardForD,
    /// D's forward pass and loss of a D step (fake and real batches)
    DForward,
    /// the backward pass of a D loss
    DBackward,
    /// D's Adam step
    DOptimizer,
    /// G's forward pass of the G step
    GForward,
    /// D's forward pass and the loss of the G step (D's weights untracked)
    DForwardForG,
    /// the backward pass of the G loss (through D into G)
    GBackward,
    /// G's Adam step (and the EMA update, when enabled)
    GOptimizer,
    /// losses and D outputs read back to the host for the log and the divergence check
    ReadBack,
}

impl Phase {
    /// Every phase, in step order.
    pub const ALL: [Phase; 10] = [
        Phase::Inputs,
        Phase::GForwardForD,
        Phase::DForward,
        Phase::DBackward,
        Phase::DOptimizer,
        Phase::GForward,
        Phase::DForwardForG,
        Phase::GBackward,
        Phase::GOptimizer,
        Phase::ReadBack,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Inputs => "inputs (data, labels, noise -> tensors)",
            Phase::GForwardForD => "D step: G forward (detached)",
            Phase::DForward => "D step: D forward + loss",
            Phase::DBackward => "D step: backward",
            Phase::DOptimizer => "D step: Adam",
            Phase::GForward => "G step: G forward",
            Phase::DForwardForG => "G step: D forward + loss",
            Phase::GBackward => "G step: backward",
            Phase::GOptimizer => "G step: Adam (+ EMA)",
            Phase::ReadBack => "read-back of losses and D outputs",
        }
    }
}

/// Wall time per [`Phase`], summed over `steps` steps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseTimes {
    totals: [Duration; Phase::ALL.len()],
    /// completed steps measured
    pub steps: usize,
}

impl PhaseTimes {
    /// Adds the time since `since` to `phase`; returns now, the start of the next phase.
    pub fn add(&mut self, phase: Phase, since: Instant) -> Instant {
        let now = Instant::now();
        self.totals[phase as usize] += now - since;
        now
    }

    /// Total time of `phase`.
    pub fn total(&self, phase: Phase) -> Duration {
        self.totals[phase as usize]
    }

    /// The table: ms per step and share of the measured time for each phase.
    pub fn table(&self) -> String {
        let steps = self.steps.max(1) as f64;
        let all: Duration = self.totals.iter().sum();
        let all_ms = 1e3 * all.as_secs_f64() / steps;
        let mut out = String::from("| phase | ms per step | share |\n|---|---:|---:|\n");
        for phase in Phase::ALL {
            let ms = 1e3 * self.total(phase).as_secs_f64() / steps;
            let share = if all_ms > 0.0 {
                100.0 * ms / all_ms
            } else {
                0.0
            };
            // writing to a String cannot fail
            let _ = writeln!(out, "| {} | {ms:.2} | {share:.1} % |", phase.name());
        }
        let _ = writeln!(out, "| all phases | {all_ms:.2} | 100 % |");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_and_the_table_lists_each_once() {
        let mut times = PhaseTimes::default();
        let t0 = Instant::now();
        let t1 = times.add(Phase::DBackward, t0);
        let t2 = times.add(Phase::DBackward, t1);
        times.add(Phase::ReadBack, t2);
        times.steps = 2;
        assert_eq!(times.total(Phase::DBackward), t2 - t0);
        assert_eq!(times.total(Phase::Inputs), Duration::ZERO);
        let table = times.table();
        for phase in Phase::ALL {
            assert_eq!(table.matches(phase.name()).count(), 1, "{table}");
        }
        assert!(table.contains("| all phases |"), "{table}");
    }
}
