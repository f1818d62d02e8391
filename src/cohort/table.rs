//! The per-patient table in typed, columnar form: one list of columns (name, unit, kind, group)
//! and one list of cells per [`PatientRecord`], shared by `patients.csv`
//! ([`crate::io::write_patients_csv`]), the NONMEM export's covariates
//! ([`Covariates::COLUMNS`]) and language bindings, so a column added here appears everywhere.
//!
//! ```
//! use cartsim::prelude::*;
//! use cartsim::cohort::{Cohort, ColumnValues, patient_columns, patient_table};
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(4).seed(2).build()?;
//! let result = cohort.run()?;
//! let columns = patient_columns(&cohort);
//! let table = patient_table(&columns, &result.records)?;
//! let i = columns.iter().position(|c| c.name == "weight_kg").unwrap();
//! assert_eq!(columns[i].unit, "kg");
//! let ColumnValues::Float(weights) = &table[i] else { unreachable!() };
//! assert_eq!(weights.len(), 4);
//! # Ok::<(), cartsim::Error>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cohort, PatientRecord};
use crate::error::{Error, SpecError};
use crate::model::{EndpointKind, Model};
use crate::variability::{Covariates, Sex};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnKind {
    /// A non-negative integer (id, solver steps, right-hand-side evaluations): [`Cell::Count`].
    Count,
    /// A short text (`sex`: `F` or `M`; the solver's tag): [`Cell::Text`].
    Text,
    /// A real number, NaN where undefined for the patient (e.g. never reappeared):
    /// [`Cell::Float`].
    Float,
    /// A yes/no flag stored as a real number, 1 or 0: [`Cell::Float`].
    Flag,
}

/// Where a column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ColumnGroup {
    /// The patient id.
    Id,
    /// A covariate.
    Covariate,
    /// A sampled (varied) parameter, in the IIV's order.
    Parameter,
    /// An endpoint, in the model's order.
    Endpoint,
    /// Solver work.
    Solver,
}

/// One column of the per-patient table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientColumn {
    /// Name (the CSV header).
    pub name: String,
    /// Unit (`"1"` for flags and counts, `""` for text).
    pub unit: String,
    /// What it holds.
    pub kind: ColumnKind,
    /// Where it comes from.
    pub group: ColumnGroup,
}

impl PatientColumn {
    fn new(name: &str, unit: &str, kind: ColumnKind, group: ColumnGroup) -> Self {
        PatientColumn {
            name: name.to_string(),
            unit: unit.to_string(),
            kind,
            group,
        }
    }
}

/// One value of a patient's row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    /// A count.
    Count(u64),
    /// A text.
    Text(&'static str),
    /// A real number or a flag (1 or 0).
    Float(f64),
}

impl fmt::Display for Cell {
    /// As in `patients.csv`: integers plain, floats in Rust's shortest round-trip form (`NaN`
    /// where undefined), texts as they are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Count(v) => write!(f, "{v}"),
            Cell::Text(s) => f.write_str(s),
            Cell::Float(v) => write!(f, "{v}"),
        }
    }
}

/// The columns of `cohort`'s per-patient table: `id`, `sex`, the numeric covariates
/// ([`Covariates::COLUMNS`]), the varied parameters (IIV order, with the model's units), the
/// endpoints (model order) and the solver's work (`solver`, `steps`, `rhs_evals`).
pub fn patient_columns<M: Model<N>, const N: usize>(cohort: &Cohort<M, N>) -> Vec<PatientColumn> {
    let model = cohort.model();
    let mut c = vec![
        PatientColumn::new("id", "1", ColumnKind::Count, ColumnGroup::Id),
        PatientColumn::new("sex", "", ColumnKind::Text, ColumnGroup::Covariate),
    ];
    c.extend(Covariates::COLUMNS.iter().map(|col| {
        PatientColumn::new(
            col.name,
            col.unit,
            ColumnKind::Float,
            ColumnGroup::Covariate,
        )
    }));
    let table = model.parameters();
    c.extend(cohort.iiv().names().iter().map(|n| {
        let unit = table.iter().find(|p| p.name == n).map_or("", |p| p.unit);
        PatientColumn::new(n, unit, ColumnKind::Float, ColumnGroup::Parameter)
    }));
    c.extend(model.endpoint_info().iter().map(|e| {
        let kind = match e.kind {
            EndpointKind::Continuous => ColumnKind::Float,
            EndpointKind::Flag => ColumnKind::Flag,
        };
        PatientColumn::new(e.name, e.unit, kind, ColumnGroup::Endpoint)
    }));
    c.push(PatientColumn::new(
        "solver",
        "",
        ColumnKind::Text,
        ColumnGroup::Solver,
    ));
    c.push(PatientColumn::new(
        "steps",
        "1",
        ColumnKind::Count,
        ColumnGroup::Solver,
    ));
    c.push(PatientColumn::new(
        "rhs_evals",
        "1",
        ColumnKind::Count,
        ColumnGroup::Solver,
    ));
    c
}

impl PatientRecord {
    /// The record's row, in the order of [`patient_columns`] of its cohort.
    pub fn cells(&self) -> Vec<Cell> {
        let c = &self.covariates;
        let mut row = Vec::with_capacity(5 + Covariates::COLUMNS.len() + self.params.len());
        row.push(Cell::Count(self.id));
        row.push(Cell::Text(match c.sex {
            Sex::Female => "F",
            Sex::Male => "M",
        }));
        row.extend(
            Covariates::COLUMNS
                .iter()
                .map(|col| Cell::Float((col.value)(c))),
        );
        row.extend(self.params.iter().map(|&v| Cell::Float(v)));
        row.extend(self.endpoints.iter().map(|&v| Cell::Float(v)));
        row.push(Cell::Text(self.solver.tag()));
        row.push(Cell::Count(u64::from(self.stats.accepted_steps)));
        row.push(Cell::Count(u64::from(self.stats.rhs_evals)));
        row
    }
}

/// The values of one column for every patient.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// A [`ColumnKind::Count`] column.
    Count(Vec<u64>),
    /// A [`ColumnKind::Text`] column.
    Text(Vec<&'static str>),
    /// A [`ColumnKind::Float`] or [`ColumnKind::Flag`] column.
    Float(Vec<f64>),
}

impl ColumnValues {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Count(v) => v.len(),
            ColumnValues::Text(v) => v.len(),
            ColumnValues::Float(v) => v.len(),
        }
    }
    /// Whether the column is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The per-patient table of `records` in columnar form, one [`ColumnValues`] per column of
/// `columns` (same order), rows in the order of `records`.
///
/// # Errors
/// [`SpecError::Invalid`] when a record does not fit the columns (records of another cohort).
pub fn patient_table(
    columns: &[PatientColumn],
    records: &[PatientRecord],
) -> Result<Vec<ColumnValues>, Error> {
    let n = records.len();
    let mut out: Vec<ColumnValues> = columns
        .iter()
        .map(|c| match c.kind {
            ColumnKind::Count => ColumnValues::Count(Vec::with_capacity(n)),
            ColumnKind::Text => ColumnValues::Text(Vec::with_capacity(n)),
            ColumnKind::Float | ColumnKind::Flag => ColumnValues::Float(Vec::with_capacity(n)),
        })
        .collect();
    for r in records {
        let cells = r.cells();
        let mismatch = |why: String| -> Error {
            SpecError::Invalid {
                field: "records".into(),
                reason: format!("patient {} does not fit the table's columns: {why}", r.id),
            }
            .into()
        };
        if cells.len() != columns.len() {
            return Err(mismatch(format!(
                "{} values for {} columns",
                cells.len(),
                columns.len()
            )));
        }
        for ((values, cell), col) in out.iter_mut().zip(cells).zip(columns) {
            match (values, cell) {
                (ColumnValues::Count(v), Cell::Count(x)) => v.push(x),
                (ColumnValues::Text(v), Cell::Text(x)) => v.push(x),
                (ColumnValues::Float(v), Cell::Float(x)) => v.push(x),
                (_, cell) => {
                    return Err(mismatch(format!(
                        "column `{}` ({:?}) got {cell:?}",
                        col.name, col.kind
                    )));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SleModel;

    #[test]
    fn cells_fit_columns_and_columns_carry_units() {
        let cohort = Cohort::builder(SleModel::default())
            .patients(3)
            .seed(5)
            .build()
            .unwrap();
        let result = cohort.run().unwrap();
        let columns = patient_columns(&cohort);
        for r in &result.records {
            let cells = r.cells();
            assert_eq!(cells.len(), columns.len());
            for (c, col) in cells.iter().zip(&columns) {
                let ok = matches!(
                    (c, col.kind),
                    (Cell::Count(_), ColumnKind::Count)
                        | (Cell::Text(_), ColumnKind::Text)
                        | (Cell::Float(_), ColumnKind::Float | ColumnKind::Flag)
                );
                assert!(ok, "{} holds {c:?}", col.name);
            }
        }
        let unit = |n: &str| columns.iter().find(|c| c.name == n).unwrap().unit.clone();
        assert_eq!(unit("egfr_ml_per_min"), "mL/min");
        assert_eq!(unit("car_t_peak_cells_per_ul"), "cells/µL");
        assert!(columns.iter().any(|c| c.kind == ColumnKind::Flag));
        let table = patient_table(&columns, &result.records).unwrap();
        assert!(table.iter().all(|v| v.len() == 3));
        assert_eq!(table[0], ColumnValues::Count(vec![0, 1, 2]));
        // Records of another cohort (fewer varied parameters) are refused, not misaligned.
        let mut short = result.records.clone();
        short[1].params.pop();
        let e = patient_table(&columns, &short).unwrap_err().to_string();
        assert!(e.contains("patient 1"), "{e}");
    }
}
