//! The table → builder mapping: each table is checked by the same builders as the Rust API
//! ([`Regimen::builder`], [`Iiv::new`], [`SolverOptions::validate`],
//! [`CohortBuilder::build`](crate::cohort::CohortBuilder::build), …), and each error carries
//! the key path it is about, so that [`super::locate`] can point at the line.

use nalgebra::DMatrix;

use super::Scenario;
use super::format::{
    DefinitionsSpec, DistSpec, IivPreset, IivSpec, ModeSpec, PopulationPreset, PopulationSpec,
    ProductSpec, RegimenPreset, RegimenSpec, SolverSpec,
};
use super::locate::{KeyPath, Located, at, at_field, invalid};
use crate::cohort::explore::{Arm, flu_cy_grid};
use crate::cohort::{Cohort, Records};
use crate::error::{ParamError, RegimenError, SolveError};
use crate::io::nonmem::NonmemOptions;
use crate::model::sle::{AntiDsDnaCutoff, SLE_STATES, SleDefinitions};
use crate::model::{InputKind, Model, SleModel};
use crate::product::Product;
use crate::regimen::{Administration, Dose, Regimen};
use crate::solve::SolverOptions;
use crate::summary::{SummaryMode, Target};
use crate::variability::{Dist, Iiv, Population};

impl RegimenSpec {
    pub(super) fn build(&self, model: &SleModel, path: &KeyPath) -> Result<Regimen, Located> {
        let preset = self.preset.map(|p| match p {
            RegimenPreset::Mackensen2022 => Regimen::mackensen_2022(),
        });
        let (mut start_day, mut end_day) = (-6.0, 365.0);
        let mut b = Regimen::builder();
        // Expanded dose index → (dose spec, time index); `None` for preset doses.
        let mut origin: Vec<Option<(usize, usize)>> = Vec::new();
        if let Some(p) = &preset {
            (start_day, end_day) = (p.start_day(), p.end_day());
            for d in p.doses() {
                b = b.dose(d.clone());
                origin.push(None);
            }
        }
        let start_day = self.start_day.unwrap_or(start_day);
        let end_day = self.end_day.unwrap_or(end_day);
        b = b.horizon(start_day, end_day);
        let inputs = model.inputs();
        for (i, d) in self.doses.iter().enumerate() {
            let dp = path.key("doses").index(i);
            let info = inputs.iter().find(|x| x.name == d.input).ok_or_else(|| {
                at(
                    dp.key("input"),
                    RegimenError::UnknownInput {
                        input: d.input.clone(),
                        model: model.name().to_string(),
                        known: inputs.iter().map(|x| x.name).collect::<Vec<_>>().join(", "),
                    },
                )
            })?;
            if !d.unit.fits(info.kind) {
                return Err(at(
                    dp.key("unit"),
                    RegimenError::WrongUnit {
                        index: i,
                        input: d.input.clone(),
                        unit: d.unit.as_str().to_string(),
                        expected: match info.kind {
                            InputKind::Cells => "cells/kg or cells".into(),
                            InputKind::DrugMg => "mg/m2, mg/kg or mg".into(),
                        },
                    },
                ));
            }
            let administration = match (d.infusion_duration_h, d.infusion_duration_day) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &dp.key("infusion_duration_day"),
                        "give either `infusion_duration_h` or `infusion_duration_day`, not both",
                    ));
                }
                (Some(h), None) => Administration::Infusion {
                    duration_day: h / 24.0,
                },
                (None, Some(day)) => Administration::Infusion { duration_day: day },
                (None, None) => Administration::Bolus,
            };
            if d.times_day.is_empty() {
                return Err(invalid(
                    &dp.key("times_day"),
                    "at least one dose time is needed",
                ));
            }
            for (j, &t) in d.times_day.iter().enumerate() {
                b = b.dose(Dose {
                    input: d.input.clone(),
                    amount: d.unit.amount(d.amount),
                    time_day: t,
                    administration,
                });
                origin.push(Some((i, j)));
            }
        }
        b.build().map_err(|mut e| {
            let dose_path = |index: usize, leaf: &str| -> KeyPath {
                match origin.get(index).copied().flatten() {
                    Some((i, j)) => {
                        let p = path.key("doses").index(i);
                        match leaf {
                            "times_day" => p.key("times_day").index(j),
                            "duration" => match self.doses.get(i) {
                                Some(d) if d.infusion_duration_h.is_some() => {
                                    p.key("infusion_duration_h")
                                }
                                _ => p.key("infusion_duration_day"),
                            },
                            other => p.key(other),
                        }
                    }
                    None => path.key("preset"),
                }
            };
            let p = match &e {
                RegimenError::BadAmount { index, .. } => dose_path(*index, "amount"),
                RegimenError::BadTime { index, .. }
                | RegimenError::OutsideHorizon { index, .. } => dose_path(*index, "times_day"),
                RegimenError::BadDuration { index, .. } => dose_path(*index, "duration"),
                RegimenError::BadHorizon { start_day, .. } => {
                    if !start_day.is_finite() || self.end_day.is_none() {
                        path.key("start_day")
                    } else {
                        path.key("end_day")
                    }
                }
                RegimenError::Missing { .. } => path.key("doses"),
                _ => path.clone(),
            };
            // Number doses as the file does (`regimen.doses[i]`), not as expanded times.
            if let RegimenError::BadAmount { index, .. }
            | RegimenError::BadTime { index, .. }
            | RegimenError::BadDuration { index, .. }
            | RegimenError::OutsideHorizon { index, .. } = &mut e
            {
                if let Some(Some((i, _))) = origin.get(*index) {
                    *index = *i;
                }
            }
            at(p, e)
        })
    }
}

impl PopulationSpec {
    /// The population (preset with overrides), not yet validated.
    pub fn to_population(&self) -> Population {
        let mut p = match self.preset.unwrap_or(PopulationPreset::Sle) {
            PopulationPreset::Sle => Population::sle(),
            PopulationPreset::Typical => Population::typical(),
        };
        if let Some(f) = self.female_fraction {
            p.female_fraction = f;
        }
        let set = |slot: &mut Dist, d: &Option<DistSpec>| {
            if let Some(d) = d {
                *slot = d.to_dist();
            }
        };
        set(&mut p.age_years, &self.age_years);
        set(&mut p.weight_female_kg, &self.weight_female_kg);
        set(&mut p.weight_male_kg, &self.weight_male_kg);
        set(&mut p.height_female_cm, &self.height_female_cm);
        set(&mut p.height_male_cm, &self.height_male_cm);
        set(&mut p.egfr_ml_per_min, &self.egfr_ml_per_min);
        set(
            &mut p.baseline_b_cells_per_ul,
            &self.baseline_b_cells_per_ul,
        );
        set(
            &mut p.baseline_t_cells_per_ul,
            &self.baseline_t_cells_per_ul,
        );
        set(
            &mut p.baseline_anti_dsdna_iu_per_ml,
            &self.baseline_anti_dsdna_iu_per_ml,
        );
        set(&mut p.baseline_sledai, &self.baseline_sledai);
        p
    }
}

impl IivSpec {
    fn build(&self, model: &SleModel, path: &KeyPath) -> Result<Iiv, Located> {
        if let Some(p) = self.preset {
            if !self.parameters.is_empty() || self.omega_sd.is_some() || self.omega_matrix.is_some()
            {
                return Err(invalid(
                    &path.key("preset"),
                    "a preset excludes `omega_sd`, `parameters` and `omega_matrix`",
                ));
            }
            return Ok(match p {
                IivPreset::ModelDefault => model.default_iiv(),
                IivPreset::None => Iiv::none(),
            });
        }
        // Where the name of varied parameter `i` is written.
        let name_path = |i: usize| -> KeyPath {
            if self.omega_sd.is_some() {
                path.key("omega_sd").index(i)
            } else {
                path.key("parameters").index(i)
            }
        };
        let iiv = match (&self.omega_sd, &self.omega_matrix) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &path.key("omega_matrix"),
                    "give either `omega_sd` or `parameters` with `omega_matrix`, not both",
                ));
            }
            (Some(_), None) if !self.parameters.is_empty() => {
                return Err(invalid(
                    &path.key("parameters"),
                    "`parameters` goes with `omega_matrix`; `omega_sd` names its parameters itself",
                ));
            }
            (None, None) if self.parameters.is_empty() => Iiv::none(),
            (None, None) => {
                return Err(invalid(
                    &path.key("parameters"),
                    "varied parameters need `omega_matrix`",
                ));
            }
            (Some(sd), None) => {
                if let Some(i) = sd.iter().position(|(_, w)| !(w.is_finite() && *w >= 0.0)) {
                    return Err(invalid(
                        &path.key("omega_sd").index(i),
                        format!(
                            "ω of `{}` must be finite and >= 0, got {}",
                            sd[i].0, sd[i].1
                        ),
                    ));
                }
                let entries: Vec<(&str, f64)> = sd.iter().map(|(n, w)| (n.as_str(), *w)).collect();
                Iiv::diagonal("iiv.omega_sd", &entries).map_err(|e| at(path.key("omega_sd"), e))?
            }
            (None, Some(rows)) => {
                let n = rows.len();
                if let Some(r) = rows.iter().position(|row| row.len() != n) {
                    return Err(invalid(
                        &path.key("omega_matrix").index(r),
                        format!(
                            "row {r} has {} values; Ω must be square ({n}x{n})",
                            rows[r].len()
                        ),
                    ));
                }
                let names: Vec<&str> = self.parameters.iter().map(String::as_str).collect();
                let m = DMatrix::from_fn(n, n, |r, c| rows[r][c]);
                Iiv::new("iiv.omega_matrix", &names, m)
                    .map_err(|e| at(path.key("omega_matrix"), e))?
            }
        };
        iiv.bind(model.name(), model.parameters()).map_err(|e| {
            let p = match &e {
                ParamError::Unknown { name, .. } => {
                    match iiv.names().iter().position(|x| x == name) {
                        Some(i) => name_path(i),
                        None => path.clone(),
                    }
                }
                _ => path.clone(),
            };
            at(p, e)
        })?;
        Ok(iiv)
    }
}

impl ProductSpec {
    /// The preset with the file's overrides, validated; errors name `product.KEY`.
    pub(super) fn build(&self, path: &KeyPath) -> Result<Product, Located> {
        let preset = self.preset.as_deref().unwrap_or("mb_cart19_1");
        let mut p = Product::preset(preset).ok_or_else(|| {
            invalid(
                &path.key("preset"),
                format!(
                    "unknown product preset `{preset}`; known: {}",
                    crate::product::PRESETS.join(", ")
                ),
            )
        })?;
        if let Some(n) = &self.name {
            p.name = n.clone();
        }
        let overrides = [
            (self.memory_fraction, &mut p.memory_fraction),
            (self.expansion_rate_factor, &mut p.expansion_rate_factor),
            (
                self.proliferative_capacity_factor,
                &mut p.proliferative_capacity_factor,
            ),
            (self.persistence_factor, &mut p.persistence_factor),
            (self.kill_potency_factor, &mut p.kill_potency_factor),
            (self.cytokine_factor, &mut p.cytokine_factor),
        ];
        let mut overridden = false;
        for (v, slot) in overrides {
            if let Some(v) = v {
                *slot = v;
                overridden = true;
            }
        }
        if overridden {
            p.sources.push((
                "overrides",
                crate::model::Source::Assumption("attributes set in the scenario file"),
            ));
        }
        p.validate().map_err(|e| {
            let key = match &e {
                ParamError::NotFinite { name, .. }
                | ParamError::OutOfBounds { name, .. }
                | ParamError::Invalid { name, .. } => KeyPath::parse(name),
                _ => path.clone(),
            };
            at(key, e)
        })?;
        Ok(p)
    }
}

impl SolverSpec {
    fn build(&self, path: &KeyPath) -> Result<SolverOptions, Located> {
        let d = SolverOptions::default();
        let o = SolverOptions {
            rtol: self.rtol.unwrap_or(d.rtol),
            atol: self.atol.unwrap_or(d.atol),
            max_steps: self.max_steps.unwrap_or(d.max_steps),
            stiffness_check_interval: self
                .stiffness_check_interval
                .unwrap_or(d.stiffness_check_interval),
            late_from_day: self.late_from_day.unwrap_or(d.late_from_day),
            late_rtol_factor: self.late_rtol_factor.unwrap_or(d.late_rtol_factor),
            output_step_day: self.output_step_day.unwrap_or(d.output_step_day),
            method: self.method.unwrap_or(d.method),
        };
        o.validate().map_err(|e| {
            let p = match &e {
                SolveError::BadOption { name, .. } => path.key(name),
                _ => path.clone(),
            };
            at(p, e)
        })?;
        Ok(o)
    }
}

impl Scenario {
    /// Checks everything that can be checked without simulating.
    pub(super) fn check(&self) -> Result<(), Located> {
        let cohort = self.build_cohort()?;
        self.build_nonmem(&cohort)?;
        self.build_arms(&SleModel::default())?;
        if let Some(s) = &self.sensitivity {
            let path = KeyPath::root().key("sensitivity");
            s.check(cohort.regimen(), cohort.population(), &path)?;
        }
        Ok(())
    }

    pub(super) fn build_cohort(&self) -> Result<Cohort<SleModel, SLE_STATES>, Located> {
        let root = KeyPath::root();
        let model = SleModel {
            definitions: match &self.definitions {
                Some(d) => d.build(&root.key("definitions"))?,
                None => SleDefinitions::default(),
            },
        };
        if self.patients == 0 {
            return Err(invalid(&root.key("patients"), "must be > 0, got 0"));
        }
        let regimen = self.regimen.build(&model, &root.key("regimen"))?;
        let mut b = Cohort::builder(model)
            .patients(self.patients)
            .seed(self.seed)
            .regimen(regimen)
            .on_failure(self.on_failure.unwrap_or_default())
            .records(match self.records {
                Some(false) => Records::Discard,
                Some(true) | None => Records::Keep,
            });
        if let Some(p) = &self.population {
            let pop = p.to_population();
            pop.validate()
                .map_err(|e| at_field(&root.key("population"), e))?;
            b = b.population(pop);
        }
        if let Some(iiv) = &self.iiv {
            b = b.iiv(iiv.build(&model, &root.key("iiv"))?);
        }
        if let Some(p) = &self.product {
            b = b.product(p.build(&root.key("product"))?);
        }
        if !self.typical.is_empty() {
            let tp = root.key("typical");
            let mut values: Vec<f64> = model.parameters().iter().map(|p| p.default).collect();
            for (name, &v) in &self.typical {
                let i = model.param_index(name).map_err(|e| at(tp.key(name), e))?;
                values[i] = v;
            }
            let params = model.params_from_values(&values).map_err(|e| {
                let p = match &e {
                    ParamError::NotFinite { name, .. }
                    | ParamError::OutOfBounds { name, .. }
                    | ParamError::Invalid { name, .. }
                        if self.typical.contains_key(name) =>
                    {
                        tp.key(name)
                    }
                    _ => tp.clone(),
                };
                at(p, e)
            })?;
            b = b.typical_params(&params);
        }
        if let Some(s) = &self.solver {
            b = b.solver(s.build(&root.key("solver"))?);
            if let Some(r) = s.stiff_retry {
                b = b.stiff_retry(r);
            }
        }
        if let Some(s) = &self.summary {
            let sp = root.key("summary");
            let mode = match (s.mode, s.alpha) {
                (Some(ModeSpec::Streaming), alpha) => Some(SummaryMode::Streaming {
                    alpha: alpha.unwrap_or(0.005),
                }),
                (_, Some(_)) => {
                    return Err(invalid(
                        &sp.key("alpha"),
                        "only applies with mode = \"streaming\"",
                    ));
                }
                (Some(ModeSpec::Exact), None) => Some(SummaryMode::Exact),
                (Some(ModeSpec::Auto) | None, None) => None,
            };
            if let Some(SummaryMode::Streaming { alpha }) = mode {
                if !(alpha.is_finite() && alpha > 0.0 && alpha < 0.5) {
                    return Err(invalid(
                        &sp.key("alpha"),
                        format!("must lie in (0, 0.5), got {alpha}"),
                    ));
                }
            }
            if let Some(m) = mode {
                b = b.summary_mode(m);
            }
            if let Some(times) = &s.band_times_day {
                if let Some(t) = times.iter().find(|t| !t.is_finite()) {
                    return Err(invalid(
                        &sp.key("band_times_day"),
                        format!("must be finite, got {t}"),
                    ));
                }
                if times.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(invalid(
                        &sp.key("band_times_day"),
                        "must be strictly increasing".to_string(),
                    ));
                }
                b = b.band_times_day(times.clone());
            }
        }
        let endpoints = model.endpoint_info();
        for (i, t) in self.targets.iter().enumerate() {
            let tp = root.key("targets").index(i);
            if !endpoints.iter().any(|e| e.name == t.endpoint) {
                return Err(invalid(
                    &tp.key("endpoint"),
                    format!(
                        "unknown endpoint `{}` (known: {})",
                        t.endpoint,
                        endpoints
                            .iter()
                            .map(|e| e.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !t.threshold.is_finite() {
                return Err(invalid(
                    &tp.key("threshold"),
                    format!("must be finite, got {}", t.threshold),
                ));
            }
            b = b.target(Target {
                name: t.name.clone(),
                endpoint: t.endpoint.clone(),
                op: t.op.comparison(),
                threshold: t.threshold,
            });
        }
        b.build().map_err(|e| at(root.clone(), e))
    }

    pub(super) fn build_nonmem(
        &self,
        cohort: &Cohort<SleModel, SLE_STATES>,
    ) -> Result<NonmemOptions, Located> {
        let mut o = NonmemOptions::default();
        let np = KeyPath::root().key("nonmem");
        if let Some(n) = &self.nonmem {
            if let Some(t) = &n.times_day {
                o.times_day = t.clone();
            }
            if let Some(c) = n.censoring {
                o.censoring = c;
            }
            if let Some(t) = n.time_origin {
                o.time_origin = t;
            }
            if !n.observations.is_empty() {
                o.observations.clone_from(&n.observations);
            }
        }
        o.validate(cohort).map_err(|e| at_field(&np, e))?;
        Ok(o)
    }

    pub(super) fn build_arms(&self, model: &SleModel) -> Result<Vec<Arm>, Located> {
        let Some(x) = &self.exploration else {
            return Ok(Vec::new());
        };
        let xp = KeyPath::root().key("exploration");
        let mut arms = Vec::new();
        match (
            x.car_t_cells_per_kg.is_empty(),
            x.flu_cy_mg_per_m2.is_empty(),
        ) {
            (true, true) => {}
            (false, true) => {
                return Err(invalid(
                    &xp.key("flu_cy_mg_per_m2"),
                    "the grid needs lymphodepletion pairs too (use [[0, 0]] for none)",
                ));
            }
            (true, false) => {
                return Err(invalid(
                    &xp.key("car_t_cells_per_kg"),
                    "the grid needs CAR-T doses too",
                ));
            }
            (false, false) => {
                for (i, &d) in x.car_t_cells_per_kg.iter().enumerate() {
                    if !(d.is_finite() && d > 0.0) {
                        return Err(invalid(
                            &xp.key("car_t_cells_per_kg").index(i),
                            format!("CAR-T dose must be finite and > 0 cells/kg, got {d}"),
                        ));
                    }
                }
                for (i, &[flu, cy]) in x.flu_cy_mg_per_m2.iter().enumerate() {
                    if !(flu.is_finite() && flu >= 0.0 && cy.is_finite() && cy >= 0.0) {
                        return Err(invalid(
                            &xp.key("flu_cy_mg_per_m2").index(i),
                            format!(
                                "fludarabine and cyclophosphamide must be finite and >= 0 mg/m2, got [{flu}, {cy}]"
                            ),
                        ));
                    }
                }
                let ld: Vec<(f64, f64)> = x.flu_cy_mg_per_m2.iter().map(|p| (p[0], p[1])).collect();
                let grid = flu_cy_grid(&x.car_t_cells_per_kg, &ld);
                if x.products.is_empty() {
                    arms.extend(grid.iter().cloned());
                }
                for (i, name) in x.products.iter().enumerate() {
                    let product = Product::preset(name).ok_or_else(|| {
                        invalid(
                            &xp.key("products").index(i),
                            format!(
                                "unknown product preset `{name}`; known: {}",
                                crate::product::PRESETS.join(", ")
                            ),
                        )
                    })?;
                    arms.extend(grid.iter().map(|a| {
                        Arm::new(format!("{} {name}", a.label), a.regimen.clone())
                            .with_product(product.clone())
                    }));
                }
            }
        }
        for (i, a) in x.arms.iter().enumerate() {
            let ap = xp.key("arms").index(i);
            let r = a.regimen.build(model, &ap.key("regimen"))?;
            let mut arm = Arm::new(a.label.clone(), r);
            if let Some(p) = &a.product {
                arm = arm.with_product(p.build(&ap.key("product"))?);
            }
            arms.push(arm);
        }
        for (i, a) in arms.iter().enumerate() {
            if arms[..i].iter().any(|b| b.label == a.label) {
                let n_grid =
                    x.car_t_cells_per_kg.len() * x.flu_cy_mg_per_m2.len() * x.products.len().max(1);
                let p = if i >= n_grid {
                    xp.key("arms").index(i - n_grid).key("label")
                } else {
                    xp.clone()
                };
                return Err(invalid(&p, format!("arm label `{}` used twice", a.label)));
            }
        }
        Ok(arms)
    }
}

impl DefinitionsSpec {
    /// The definitions: the defaults with the given keys, checked by
    /// [`SleDefinitions::validate`].
    pub(super) fn build(&self, path: &KeyPath) -> Result<SleDefinitions, Located> {
        let mut d = SleDefinitions::default();
        let set = |target: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *target = v;
            }
        };
        set(&mut d.b_cell_threshold_per_ul, self.b_cell_threshold_per_ul);
        set(&mut d.remission_sledai_below, self.remission_sledai_below);
        set(&mut d.month3_day, self.month3_day);
        set(&mut d.car_t_detection_per_ul, self.car_t_detection_per_ul);
        set(
            &mut d.autoreactive_eliminated_fraction,
            self.autoreactive_eliminated_fraction,
        );
        set(&mut d.relapse_switch_cells, self.relapse_switch_cells);
        set(
            &mut d.relapse_established_cells,
            self.relapse_established_cells,
        );
        set(&mut d.relapse_clone_fraction, self.relapse_clone_fraction);
        set(&mut d.relapse_delay_day, self.relapse_delay_day);
        if let Some(c) = self.crs_il6_thresholds_pg_per_ml {
            d.crs_il6_thresholds_pg_per_ml = c;
        }
        match (
            self.anti_dsdna_negative_below_iu_per_ml,
            self.anti_dsdna_negative_fraction_of_baseline,
        ) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &path.key("anti_dsdna_negative_fraction_of_baseline"),
                    "give either `anti_dsdna_negative_below_iu_per_ml` (an assay cut-off) or \
                     `anti_dsdna_negative_fraction_of_baseline`, not both",
                ));
            }
            (Some(v), None) => {
                d.anti_dsdna_negative = AntiDsDnaCutoff::Assay {
                    assay: intern(
                        self.anti_dsdna_assay
                            .as_deref()
                            .unwrap_or("assay cut-off given in the scenario"),
                    ),
                    negative_below_iu_per_ml: v,
                };
            }
            (None, Some(fraction)) => {
                d.anti_dsdna_negative = AntiDsDnaCutoff::RelativeToBaseline { fraction };
            }
            (None, None) => {}
        }
        if self.anti_dsdna_assay.is_some() && self.anti_dsdna_negative_below_iu_per_ml.is_none() {
            return Err(invalid(
                &path.key("anti_dsdna_assay"),
                "names the assay of `anti_dsdna_negative_below_iu_per_ml`, which is missing",
            ));
        }
        d.validate().map_err(|e| at_field(path, e))?;
        Ok(d)
    }
}

/// A `'static` copy of an assay name, one per distinct name for the life of the process (the
/// definitions are `Copy`; scenario files name a handful of assays).
fn intern(name: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(n);
    n
}
