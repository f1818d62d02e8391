//! Doses as a model receives them: [`ResolvedDose`] (input index, absolute amount, timing), and
//! the name of the CAR-T product input that regimens and the built-in models share.

/// Name of the CAR-T product input in the built-in models (and in regimens' `car_t` doses).
pub const CAR_T: &str = "car_t";

/// A dose resolved for one patient and model: input index, absolute amount, timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedDose {
    /// Index into the model's [`inputs`](crate::model::ModelInfo::inputs).
    pub input: usize,
    /// Start, day.
    pub time_day: f64,
    /// Amount: cells for cell products, mg for drugs.
    pub amount: f64,
    /// Infusion duration, day; `None` for a bolus.
    pub duration_day: Option<f64>,
}

impl ResolvedDose {
    /// End of the dose, day.
    pub fn end_day(&self) -> f64 {
        self.time_day + self.duration_day.unwrap_or(0.0)
    }

    /// Zero-order rate while infusing (amount/day); `None` for a bolus.
    pub fn rate_per_day(&self) -> Option<f64> {
        self.duration_day.map(|d| self.amount / d)
    }
}
