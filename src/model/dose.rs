//! Doses as a model receives them: [`ResolvedDose`] (input index, absolute amount, timing), and
//! the name of the CAR-T product input that regimens and the built-in models share.

/// Name of the CAR-T product input in the built-in models (and in regimens' `car_t` doses).
pub const CAR_T: &str = "car_t";

/// Infusions shorter than this fraction of their start time (in days, at least 1 day) are given
/// as a bolus of the same amount ([`ResolvedDose::infusion_day`]): 10⁻⁹, i.e. under 86 µs for a
/// dose in the first day. Such a duration is round-off next to its start time — `t + d` may
/// equal `t` exactly — and a closed form or a solver segment of that length would deliver
/// little or nothing of the dose (or divide by it into an infinite rate). A bolus and an
/// infusion this short differ by less than 10⁻⁹ of the dosing interval in timing, far below
/// anything a model resolves. The solver merges segments of the same relative length.
pub const MIN_INFUSION_REL: f64 = 1e-9;

/// A dose resolved for one patient and model: input index, absolute amount, timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedDose {
    /// Index into the model's [`inputs`](crate::model::ModelInfo::inputs).
    pub input: usize,
    /// Start, day.
    pub time_day: f64,
    /// Amount: cells for cell products, mg for drugs.
    pub amount: f64,
    /// Infusion duration, day; `None` for a bolus. Models and solvers read it through
    /// [`ResolvedDose::infusion_day`], which gives infusions of round-off length as boluses.
    pub duration_day: Option<f64>,
}

impl ResolvedDose {
    /// The infusion duration as simulated, day: `None` for a bolus and for an infusion shorter
    /// than [`MIN_INFUSION_REL`] × max(|start|, 1 day), which is given as a bolus of the same
    /// amount (so the whole dose is delivered, never lost to round-off).
    pub fn infusion_day(&self) -> Option<f64> {
        self.duration_day
            .filter(|&d| d > MIN_INFUSION_REL * self.time_day.abs().max(1.0))
    }

    /// Whether the dose is simulated as a bolus ([`ResolvedDose::infusion_day`] is `None`).
    pub fn is_bolus(&self) -> bool {
        self.infusion_day().is_none()
    }

    /// End of the dose, day (its start for a bolus).
    pub fn end_day(&self) -> f64 {
        self.time_day + self.infusion_day().unwrap_or(0.0)
    }

    /// Zero-order rate while infusing (amount/day); `None` for a bolus
    /// ([`ResolvedDose::is_bolus`]).
    pub fn rate_per_day(&self) -> Option<f64> {
        self.infusion_day().map(|d| self.amount / d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infusion(time_day: f64, duration_day: f64) -> ResolvedDose {
        ResolvedDose {
            input: 0,
            time_day,
            amount: 30.0,
            duration_day: Some(duration_day),
        }
    }

    #[test]
    fn infusions_of_round_off_length_are_boluses_of_the_same_amount() {
        // 1 h infusions stay infusions, at day 0 and at day 1000.
        for t in [0.0, -5.0, 1000.0] {
            let d = infusion(t, 1.0 / 24.0);
            assert_eq!(d.infusion_day(), Some(1.0 / 24.0));
            assert_eq!(d.rate_per_day(), Some(30.0 * 24.0));
            assert!(d.end_day() > t);
        }
        // Durations where `t + d == t`, or whose rate overflows: boluses, never a lost dose.
        for (t, dur) in [
            (1.0, 1e-17),
            (100.0, 1e-14),
            (0.0, 1e-12),
            (0.0, 5e-324),
            (-5.0, 1e-300),
        ] {
            let d = infusion(t, dur);
            assert!(d.is_bolus(), "t = {t}, duration {dur}");
            assert_eq!(d.rate_per_day(), None);
            assert_eq!(d.end_day(), t);
        }
        // The threshold is relative to the start time.
        assert!(!infusion(0.0, 2e-9).is_bolus());
        assert!(infusion(1000.0, 2e-9).is_bolus());
    }
}
