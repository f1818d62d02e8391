//! The one place random number generators are made.
//!
//! Every patient's randomness is a pure function of `(seed, patient id)`: a ChaCha8 generator
//! keyed by the seed, on stream number `id` (ChaCha's 64-bit stream id gives 2⁶⁴ independent
//! streams per key). ChaCha8 is portable and fully specified, so the same seed gives the same
//! patients on every platform, thread count and shard split.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// The generator type of every per-patient stream (ChaCha8: portable, fully specified).
pub type PatientRng = ChaCha8Rng;

/// Key mixed into the seed of the stochastic-endpoint streams ([`stochastic_rng`]).
const STOCHASTIC_KEY: u64 = 0x5EED_F5E1_A95E_0001;
/// Key mixed into the seed of the virtual-population selection streams ([`selection_rng`]).
const SELECTION_KEY: u64 = 0xA11E_2016_0140_0002;

/// Key mixed into the seed of the residual-error streams of simulated datasets
/// ([`residual_rng`]; "RESIDUAL" in ASCII).
const RESIDUAL_KEY: u64 = 0x5245_5349_4455_414c;

/// Key mixed into the seed of the sensitivity-analysis streams ([`sensitivity_rng`];
/// "SENSITIV" in ASCII).
const SENSITIVITY_KEY: u64 = 0x5345_4E53_4954_4956;

/// Stream offsets: patients use streams `0..2⁶³`; cohort-level draws (parameter uncertainty of
/// a replicate) use streams from `2⁶³` on, so they never collide with a patient.
const COHORT_STREAM_BASE: u64 = 1 << 63;

/// The generator of patient `id` in a cohort with `seed`.
pub fn patient_rng(seed: u64, id: u64) -> PatientRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(id & !COHORT_STREAM_BASE);
    rng
}

/// The generator of patient `id`'s **stochastic endpoints** (e.g. the birth–death fate of a
/// small autoreactive clone, [`Model::stochastic_endpoints`](crate::model::Model::stochastic_endpoints)):
/// ChaCha8 keyed by `seed ^ 0x5EEDF5E1A95E0001` on stream `id`. A separate stream, so that these
/// draws (whose number varies from patient to patient) never shift the covariates or random
/// effects drawn from [`patient_rng`].
pub fn stochastic_rng(seed: u64, id: u64) -> PatientRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STOCHASTIC_KEY);
    rng.set_stream(id & !COHORT_STREAM_BASE);
    rng
}

/// The generator of patient `id`'s accept/reject draw in virtual-population selection
/// ([`crate::calibrate::vpop`]): ChaCha8 keyed by `seed ^ 0xA11E201601400002` on stream `id`.
pub fn selection_rng(seed: u64, id: u64) -> PatientRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SELECTION_KEY);
    rng.set_stream(id & !COHORT_STREAM_BASE);
    rng
}

/// The generator of patient `id`'s **residual errors** in a simulated dataset
/// ([`crate::io::nonmem`]): ChaCha8 keyed by `seed ^ 0x524553494455414C` on stream `id`, so that
/// adding observation noise never shifts the patients' own draws.
pub fn residual_rng(seed: u64, id: u64) -> PatientRng {
    patient_rng(seed ^ RESIDUAL_KEY, id)
}

/// The generator of a sensitivity study's own draws ([`crate::sensitivity`]): stream 0 for
/// the Morris trajectories, stream `1 + b` for bootstrap resample `b`. ChaCha8 keyed by
/// `seed ^ 0x53454E5349544956`, so a study's draws never coincide with its inner cohorts'
/// patients.
pub fn sensitivity_rng(seed: u64, stream: u64) -> PatientRng {
    patient_rng(seed ^ SENSITIVITY_KEY, stream)
}

/// The generator of cohort-level draws for `replicate` (parameter uncertainty).
pub fn replicate_rng(seed: u64, replicate: u64) -> PatientRng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(COHORT_STREAM_BASE | replicate);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: f64 = patient_rng(7, 3).random();
        let b: f64 = patient_rng(7, 3).random();
        let c: f64 = patient_rng(7, 4).random();
        let d: f64 = patient_rng(8, 3).random();
        let r: f64 = replicate_rng(7, 3).random();
        let s: f64 = stochastic_rng(7, 3).random();
        let v: f64 = selection_rng(7, 3).random();
        assert_eq!(a.to_bits(), b.to_bits());
        assert_eq!(s.to_bits(), stochastic_rng(7, 3).random::<f64>().to_bits());
        assert!(s != a && s != v && v != a);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_ne!(a, r);
    }
}
