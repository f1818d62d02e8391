//! The CAR-T **product**: what is the same for every patient who receives it — costimulation
//! domain, binder, phenotype mix, expansion capacity, persistence, kill potency and cytokine
//! propensity — as a first-class input, separate from the regimen (how much, when) and from
//! the patient (who).
//!
//! A [`Product`] acts on a model through its typical parameter values, by parameter name
//! ([`Product::apply`]): the memory-like share of the infused cells replaces
//! `product_memory_fraction`, and each relative attribute multiplies the parameters it stands
//! for (table below). The built-in SLE model was calibrated on the Erlangen product
//! (Mackensen 2022), so [`Product::mb_cart19_1`] is the identity: every factor 1 and the model's
//! own memory share. Other products are expressed *relative to it*, which is what the evidence
//! supports: head-to-head and cross-trial comparisons of CD28 and 4-1BB products give ratios
//! (earlier and higher peaks, shorter persistence), not absolute rates for an SLE patient.
//!
//! | attribute | SLE parameter(s) | effect |
//! |---|---|---|
//! | `memory_fraction` | `product_memory_fraction` | replaced |
//! | `expansion_rate_factor` | `effector_proliferation_per_day` | × factor |
//! | `proliferative_capacity_factor` | `potential_half_divisions` | × factor (burst size) |
//! | `persistence_factor` | `memory_death_per_day` | ÷ factor (memory half-life × factor) |
//! | `kill_potency_factor` | `max_kill_per_car_t_per_day` | × factor |
//! | `cytokine_factor` | `il6_production_pg_per_ml_per_day_per_mcell` | × factor |
//!
//! A model without one of these parameters cannot take a product that changes it
//! ([`ParamError::Unknown`] naming the parameter); a factor of exactly 1 touches nothing.
//!
//! The presets' values and their sources are in [`Product::mb_cart19_1`], [`Product::kyv101`]
//! and [`Product::rese_cel`]; [`Product::preset`] finds one by name.

use crate::error::ParamError;
use crate::model::info::{ParamInfo, Source, param_position};

/// The costimulation domain of a second-generation CAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Costimulation {
    /// 4-1BB (CD137): slower expansion, more central memory, longer persistence
    /// (tisagenlecleucel, lisocabtagene, the Erlangen MB-CART19.1, rese-cel).
    FourOneBb,
    /// CD28: faster and higher expansion, effector-memory skew, shorter persistence
    /// (axicabtagene, brexucabtagene, KYV-101).
    Cd28,
}

impl Costimulation {
    /// Short name: `4-1BB` or `CD28`.
    pub fn label(&self) -> &'static str {
        match self {
            Costimulation::FourOneBb => "4-1BB",
            Costimulation::Cd28 => "CD28",
        }
    }
}

/// A CAR-T product: patient-invariant attributes of the infused cells, relative to the Erlangen
/// product the default SLE model is calibrated on (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Name (snake_case; presets: `mb_cart19_1`, `kyv101`, `rese_cel`).
    pub name: String,
    /// Costimulation domain.
    pub costimulation: Costimulation,
    /// Binder of the CAR, in words (e.g. "murine FMC63 scFv", "fully human scFv").
    pub binder: String,
    /// Memory-like (naive/stem-like and central-memory) share of the infused CAR-T cells,
    /// in [0, 1].
    pub memory_fraction: f64,
    /// Relative antigen-driven division rate (× `effector_proliferation_per_day`).
    pub expansion_rate_factor: f64,
    /// Relative proliferative capacity: divisions before the burst ends
    /// (× `potential_half_divisions`).
    pub proliferative_capacity_factor: f64,
    /// Relative persistence of memory-like CAR-T: memory half-life × factor
    /// (`memory_death_per_day` ÷ factor).
    pub persistence_factor: f64,
    /// Relative killing per CAR-T cell (× `max_kill_per_car_t_per_day`).
    pub kill_potency_factor: f64,
    /// Relative cytokine release per engaged CAR-T cell
    /// (× `il6_production_pg_per_ml_per_day_per_mcell`).
    pub cytokine_factor: f64,
    /// Where each value comes from, by attribute name.
    pub sources: Vec<(&'static str, Source)>,
}

/// The preset names [`Product::preset`] knows.
pub const PRESETS: &[&str] = &["mb_cart19_1", "kyv101", "rese_cel"];

impl Default for Product {
    /// The Erlangen product ([`Product::mb_cart19_1`]).
    fn default() -> Self {
        Product::mb_cart19_1()
    }
}

impl Product {
    /// MB-CART19.1, the Erlangen product of Mackensen 2022 (4-1BB, murine FMC63-derived scFv,
    /// manufactured on the CliniMACS Prodigy): the reference the default SLE model is
    /// calibrated on, so every factor is 1 and the memory share is the model's default (0.2).
    pub fn mb_cart19_1() -> Self {
        Product {
            name: "mb_cart19_1".into(),
            costimulation: Costimulation::FourOneBb,
            binder: "murine FMC63 scFv".into(),
            memory_fraction: 0.2,
            expansion_rate_factor: 1.0,
            proliferative_capacity_factor: 1.0,
            persistence_factor: 1.0,
            kill_potency_factor: 1.0,
            cytokine_factor: 1.0,
            sources: vec![
                (
                    "all",
                    Source::Calibrated(
                        "reference product: the SLE model's defaults are calibrated on \
                         Mackensen 2022 (MODEL.md §1)",
                    ),
                ),
                (
                    "memory_fraction",
                    Source::Assumption("model default f_mem = 0.2 (PROTOTYPE.md §3)"),
                ),
            ],
        }
    }

    /// KYV-101 (Kyverna; Hu19-CD828Z construct of Brudno 2020: fully human scFv, CD28 hinge,
    /// transmembrane and costimulation), as given in KYSA-1 (lupus nephritis).
    ///
    /// Relative to the Erlangen 4-1BB product, from the CD28 vs 4-1BB comparisons of oncology
    /// products and the products' own reports:
    /// - **expansion rate × 1.2**: axicabtagene (CD28) peaks at a median day 8 (label, follicular
    ///   lymphoma; Oncologist 2022;27:587 Table 1) against days 9–10 for tisagenlecleucel (4-1BB;
    ///   MODEL.md §1 anchors); KYSA-1 reports rapid expansion. With the burst size unchanged a
    ///   20% faster division rate moves the typical peak about a day earlier.
    /// - **persistence × 0.25** (memory half-life a quarter of the Erlangen one): axicabtagene
    ///   persists in blood for a median of 6 months (label, follicular lymphoma),
    ///   tisagenlecleucel up to 554 days by flow and 693 by qPCR (JULIET, Awasthi et al., Blood
    ///   Adv 2020;4:560): a memory half-life several times shorter. Checked against KYSA-1's
    ///   first B-cell recovery on day 56 (dose level 1, Lupus Sci Med 2024;11(Suppl 1):A109;
    ///   one patient): with the default variability (memory decline ω 0.9, Stein 2019) day 56 is
    ///   at the 17th percentile of 2,000 virtual KYSA-1 DL1 patients (median return day 70;
    ///   2026-12-03), against the 3rd with the Erlangen product. (With the earlier ω 0.2 this
    ///   factor put day 56 at the 4th percentile, and only × 0.15 made it ordinary.)
    /// - **memory share 0.1** (half the Erlangen 0.2): CD28 signalling drives effector-memory
    ///   differentiation, 4-1BB central memory (Kawalekar et al., Immunity 2016;44:380)
    ///   — direction sourced, size an assumption.
    /// - **cytokine × 1**: Hu19-CD828Z T cells release less cytokine than the FMC63-28Z
    ///   construct of axicabtagene (Brudno et al., Nat Med 2020;26:270), and KYSA-1 saw grade 1
    ///   CRS only; no sourced ratio to the Erlangen product — assumption.
    pub fn kyv101() -> Self {
        Product {
            name: "kyv101".into(),
            costimulation: Costimulation::Cd28,
            binder: "fully human scFv (Hu19)".into(),
            memory_fraction: 0.1,
            expansion_rate_factor: 1.2,
            proliferative_capacity_factor: 1.0,
            persistence_factor: 0.25,
            kill_potency_factor: 1.0,
            cytokine_factor: 1.0,
            sources: vec![
                (
                    "expansion_rate_factor",
                    Source::Literature(
                        "CD28 axicabtagene Tmax 8 d (label; Oncologist 2022;27:587) vs 4-1BB \
                         tisagenlecleucel 9-10 d",
                    ),
                ),
                (
                    "persistence_factor",
                    Source::Calibrated(
                        "KYSA-1 first B-cell recovery day 56 (Lupus Sci Med 2024;11:A109), \
                         within the axicabtagene (median 6 months) vs tisagenlecleucel \
                         (up to 554-693 d, Awasthi 2020) persistence ratio",
                    ),
                ),
                (
                    "memory_fraction",
                    Source::Assumption(
                        "CD28 skews to effector memory (Kawalekar, Immunity 2016): half the \
                         Erlangen share",
                    ),
                ),
                (
                    "cytokine_factor",
                    Source::Assumption(
                        "Hu19-CD828Z releases less cytokine than FMC63-28Z (Brudno, Nat Med \
                         2020); KYSA-1 grade 1 CRS only",
                    ),
                ),
            ],
        }
    }

    /// Rese-cel (resecabtagene autoleucel, CABA-201; Cabaletta Bio): fully human CD19 binder,
    /// 4-1BB costimulation, given at 1 × 10⁶ cells/kg after the Erlangen lymphodepletion
    /// (RESET-SLE/SSc). Same costimulation as the Erlangen product, so its kinetics are taken
    /// as the Erlangen ones (assumption: no published popPK yet); the programme's CRS profile
    /// (about 90% no CRS or grade 1, EULAR 2025 OP0338) is the CRS model's calibration target,
    /// not a product factor.
    pub fn rese_cel() -> Self {
        Product {
            name: "rese_cel".into(),
            costimulation: Costimulation::FourOneBb,
            binder: "fully human scFv".into(),
            sources: vec![(
                "all",
                Source::Assumption(
                    "4-1BB like the Erlangen product; no published cellular kinetics yet \
                     (RESET-SLE, EULAR 2025 OP0338)",
                ),
            )],
            ..Product::mb_cart19_1()
        }
    }

    /// A preset by name ([`PRESETS`]).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "mb_cart19_1" => Some(Product::mb_cart19_1()),
            "kyv101" => Some(Product::kyv101()),
            "rese_cel" => Some(Product::rese_cel()),
            _ => None,
        }
    }

    /// The relative attributes with their names and values, in a fixed order.
    pub fn factors(&self) -> [(&'static str, f64); 5] {
        [
            ("expansion_rate_factor", self.expansion_rate_factor),
            (
                "proliferative_capacity_factor",
                self.proliferative_capacity_factor,
            ),
            ("persistence_factor", self.persistence_factor),
            ("kill_potency_factor", self.kill_potency_factor),
            ("cytokine_factor", self.cytokine_factor),
        ]
    }

    /// The names of the numeric attributes ([`Product::set_attribute`]).
    pub const ATTRIBUTES: &'static [&'static str] = &[
        "memory_fraction",
        "expansion_rate_factor",
        "proliferative_capacity_factor",
        "persistence_factor",
        "kill_potency_factor",
        "cytokine_factor",
    ];

    /// Sets the numeric attribute `name` ([`Product::ATTRIBUTES`]) without a check
    /// ([`Product::validate`] checks); `false` when there is no such attribute.
    pub fn set_attribute(&mut self, name: &str, value: f64) -> bool {
        let slot = match name {
            "memory_fraction" => &mut self.memory_fraction,
            "expansion_rate_factor" => &mut self.expansion_rate_factor,
            "proliferative_capacity_factor" => &mut self.proliferative_capacity_factor,
            "persistence_factor" => &mut self.persistence_factor,
            "kill_potency_factor" => &mut self.kill_potency_factor,
            "cytokine_factor" => &mut self.cytokine_factor,
            _ => return false,
        };
        *slot = value;
        true
    }

    /// Checks every attribute: factors finite and > 0, memory share in [0, 1], a name.
    ///
    /// # Errors
    /// [`ParamError::NotFinite`], [`ParamError::Invalid`] naming the attribute as
    /// `product.ATTRIBUTE`.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.name.trim().is_empty() {
            return Err(ParamError::Invalid {
                name: "product.name".into(),
                reason: "must not be empty".into(),
            });
        }
        let checks =
            std::iter::once(("memory_fraction", self.memory_fraction)).chain(self.factors());
        for (name, v) in checks {
            if !v.is_finite() {
                return Err(ParamError::NotFinite {
                    name: format!("product.{name}"),
                    value: v,
                });
            }
        }
        if !(0.0..=1.0).contains(&self.memory_fraction) {
            return Err(ParamError::OutOfBounds {
                name: "product.memory_fraction".into(),
                value: self.memory_fraction,
                lower: 0.0,
                upper: 1.0,
            });
        }
        for (name, v) in self.factors() {
            if v <= 0.0 {
                return Err(ParamError::Invalid {
                    name: format!("product.{name}"),
                    reason: format!("must be > 0, got {v}"),
                });
            }
        }
        Ok(())
    }

    /// Applies the product to typical parameter values `values` of the model with parameter
    /// table `table` (see the module docs for the mapping). The result is not range-checked
    /// here: the cohort checks the typical values it builds with, naming the parameter.
    ///
    /// # Errors
    /// As [`Product::validate`]; [`ParamError::Unknown`] when the product changes a parameter
    /// the model does not have; [`ParamError::WrongLength`] when `values` does not match
    /// `table`.
    pub fn apply(
        &self,
        model: &str,
        table: &[ParamInfo],
        values: &mut [f64],
    ) -> Result<(), ParamError> {
        self.validate()?;
        if values.len() != table.len() {
            return Err(ParamError::WrongLength {
                model: model.to_string(),
                expected: table.len(),
                got: values.len(),
            });
        }
        let index = |name: &str| param_position(model, table, name);
        values[index("product_memory_fraction")?] = self.memory_fraction;
        let scale = |values: &mut [f64], name: &str, f: f64| -> Result<(), ParamError> {
            if f != 1.0 {
                values[index(name)?] *= f;
            }
            Ok(())
        };
        scale(
            values,
            "effector_proliferation_per_day",
            self.expansion_rate_factor,
        )?;
        scale(
            values,
            "potential_half_divisions",
            self.proliferative_capacity_factor,
        )?;
        scale(
            values,
            "memory_death_per_day",
            1.0 / self.persistence_factor,
        )?;
        scale(
            values,
            "max_kill_per_car_t_per_day",
            self.kill_potency_factor,
        )?;
        scale(
            values,
            "il6_production_pg_per_ml_per_day_per_mcell",
            self.cytokine_factor,
        )?;
        Ok(())
    }

    /// A one-line description: name, costimulation, binder and the non-unit factors.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} ({}, {}; memory share {})",
            self.name,
            self.costimulation.label(),
            self.binder,
            self.memory_fraction
        );
        for (name, f) in self.factors() {
            if f != 1.0 {
                s.push_str(&format!(", {name} {f}"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sle::SLE_PARAMS;

    fn defaults() -> Vec<f64> {
        SLE_PARAMS.iter().map(|p| p.default).collect()
    }

    #[test]
    fn the_erlangen_product_is_the_identity() {
        let mut v = defaults();
        Product::mb_cart19_1()
            .apply("sle", SLE_PARAMS, &mut v)
            .unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&v), bits(&defaults()));
    }

    #[test]
    fn kyv101_expands_faster_and_persists_shorter() {
        let mut v = defaults();
        Product::kyv101().apply("sle", SLE_PARAMS, &mut v).unwrap();
        let at = |name: &str| SLE_PARAMS.iter().position(|p| p.name == name).unwrap();
        let d = defaults();
        let rho = at("effector_proliferation_per_day");
        assert!((v[rho] / d[rho] - 1.2).abs() < 1e-12);
        let dm = at("memory_death_per_day");
        assert!((v[dm] / d[dm] - 4.0).abs() < 1e-12);
        assert_eq!(v[at("product_memory_fraction")], 0.1);
    }

    #[test]
    fn presets_are_found_by_name_and_valid() {
        for name in PRESETS {
            let p = Product::preset(name).unwrap();
            assert_eq!(&p.name, name);
            p.validate().unwrap();
            assert!(!p.sources.is_empty());
        }
        assert!(Product::preset("tisagenlecleucel").is_none());
    }

    #[test]
    fn bad_attributes_are_named() {
        let p = Product {
            persistence_factor: 0.0,
            ..Product::kyv101()
        };
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("product.persistence_factor"), "{e}");
        let p = Product {
            memory_fraction: f64::NAN,
            ..Product::kyv101()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("memory_fraction")
        );
        // A model without the parameters a product changes.
        let table = &SLE_PARAMS[..1];
        let mut v = vec![table[0].default];
        let e = Product::kyv101().apply("tiny", table, &mut v).unwrap_err();
        assert!(matches!(e, ParamError::Unknown { .. }), "{e}");
    }
}
