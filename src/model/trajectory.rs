//! Output trajectory on a regular time grid, with the helpers endpoints are computed from.

/// Model outputs on a regular grid `start_day + i · step_day`, stored column by column (each
/// output is one contiguous slice).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trajectory {
    start_day: f64,
    step_day: f64,
    n_times: usize,
    n_outputs: usize,
    values: Vec<f64>,
    /// Values the model tracked along the solver's accepted steps (see
    /// [`Model::track`](crate::model::Model::track)).
    pub(crate) tracked: Vec<f64>,
    /// Grid points a solve fills (empty: all). A cohort whose model reads no grid point for
    /// its endpoints ([`Model::endpoints_read_grid`](crate::model::Model::endpoints_read_grid))
    /// fills only the points its bands read; the others keep stale values and are never read.
    pub(crate) fill_mask: Vec<bool>,
}

impl Trajectory {
    /// Resizes for a new grid (reuses the allocation).
    pub(crate) fn reset(&mut self, start_day: f64, end_day: f64, step_day: f64, n_outputs: usize) {
        let n = ((end_day - start_day) / step_day + 1e-9).floor() as usize + 1;
        self.start_day = start_day;
        self.step_day = step_day;
        self.n_times = n;
        self.n_outputs = n_outputs;
        // Every grid point is written by a successful solve: only resize, do not refill.
        self.values.resize(n * n_outputs, f64::NAN);
        if self.fill_mask.len() != n {
            self.fill_mask.clear();
        }
    }

    /// Whether a solve fills grid point `i` (every point unless a cohort restricted the grid to
    /// the points it reads).
    #[inline]
    pub(crate) fn fills(&self, i: usize) -> bool {
        self.fill_mask.get(i).copied().unwrap_or(true)
    }

    /// The values the model tracked along the solver's accepted steps, independent of the output
    /// grid (see [`Model::track`](crate::model::Model::track)); empty for models that track
    /// nothing.
    pub fn tracked(&self) -> &[f64] {
        &self.tracked
    }

    /// Number of grid times.
    pub fn len(&self) -> usize {
        self.n_times
    }

    /// Whether the grid is empty.
    pub fn is_empty(&self) -> bool {
        self.n_times == 0
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Grid spacing, day.
    pub fn step_day(&self) -> f64 {
        self.step_day
    }

    /// Time of grid point `i`, day.
    #[inline]
    pub fn time(&self, i: usize) -> f64 {
        self.start_day + i as f64 * self.step_day
    }

    /// All grid times, day.
    pub fn times(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        (0..self.n_times).map(|i| self.time(i))
    }

    /// The values of output `k` over the grid (empty if `k` is out of range).
    pub fn output(&self, k: usize) -> &[f64] {
        self.values
            .get(k * self.n_times..(k + 1) * self.n_times)
            .unwrap_or(&[])
    }

    /// The values of output `k`, mutable (for [`Model::finish`](crate::model::Model::finish)).
    pub fn output_mut(&mut self, k: usize) -> &mut [f64] {
        let n = self.n_times;
        self.values.get_mut(k * n..(k + 1) * n).unwrap_or(&mut [])
    }

    /// Output `src` (read) and output `dst` (written) at once; `dst` must differ from `src`
    /// (if not, or out of range, both slices are empty).
    pub fn output_pair_mut(&mut self, src: usize, dst: usize) -> (&[f64], &mut [f64]) {
        let n = self.n_times;
        if src == dst || src >= self.n_outputs || dst >= self.n_outputs {
            return (&[], &mut []);
        }
        if src < dst {
            let (a, b) = self.values.split_at_mut(dst * n);
            (&a[src * n..(src + 1) * n], &mut b[..n])
        } else {
            let (a, b) = self.values.split_at_mut(src * n);
            (&b[..n], &mut a[dst * n..(dst + 1) * n])
        }
    }

    /// Value of output `k` at grid point `i` (NaN if out of range).
    pub fn value(&self, i: usize, k: usize) -> f64 {
        self.values
            .get(k * self.n_times + i)
            .copied()
            .unwrap_or(f64::NAN)
    }

    #[inline]
    pub(crate) fn set_row(&mut self, i: usize, row: &[f64]) {
        if i >= self.n_times {
            return;
        }
        for (column, &v) in self.values.chunks_exact_mut(self.n_times).zip(row) {
            column[i] = v;
        }
    }

    /// Grid index nearest to `t_day`, clamped to the grid.
    pub fn index_of(&self, t_day: f64) -> usize {
        let i = ((t_day - self.start_day) / self.step_day).round();
        if i <= 0.0 {
            0
        } else {
            (i as usize).min(self.n_times.saturating_sub(1))
        }
    }

    /// Output `k` at `t_day` by linear interpolation between grid points.
    pub fn value_at(&self, k: usize, t_day: f64) -> f64 {
        self.value_at_position(k, self.grid_position(t_day))
    }

    /// Where `t_day` falls on the grid: the point at or before it and the fraction of the way
    /// to the next (clamped to the grid). Computed once, it serves every output at that time
    /// ([`Trajectory::value_at_position`]), as cohort bands do; `(0, 0.0)` on an empty grid.
    pub fn grid_position(&self, t_day: f64) -> (usize, f64) {
        if self.n_times == 0 {
            return (0, 0.0);
        }
        let last = self.n_times - 1;
        let x = ((t_day - self.start_day) / self.step_day).clamp(0.0, last as f64);
        // x ≥ 0 (or NaN, which casts to 0 as `floor` would): truncation is `floor`, without
        // a libm call on baseline x86-64.
        let i = (x as usize).min(last);
        if i == last {
            (i, 0.0)
        } else {
            (i, x - i as f64)
        }
    }

    /// Output `k` at a [`Trajectory::grid_position`] (the same value as
    /// [`Trajectory::value_at`] at its time).
    pub fn value_at_position(&self, k: usize, (i, f): (usize, f64)) -> f64 {
        let v = self.output(k);
        match v.get(i) {
            None => f64::NAN,
            // On a grid point the next point is not read (a cohort may not have filled it).
            Some(&a) if f == 0.0 || i + 1 >= v.len() => a,
            Some(&a) => a * (1.0 - f) + v[i + 1] * f,
        }
    }

    /// Maximum of output `k` for `t ≥ from_day`: `(day, value)`, refined by a parabola through
    /// the grid maximum and its neighbours.
    pub fn peak(&self, k: usize, from_day: f64) -> (f64, f64) {
        let v = self.output(k);
        let first = self.index_of(from_day.max(self.start_day));
        let mut best = first;
        for i in first..v.len() {
            if v[i] > v[best] {
                best = i;
            }
        }
        if v.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        if best > first && best + 1 < v.len() {
            let (a, b, c) = (v[best - 1], v[best], v[best + 1]);
            let denom = a - 2.0 * b + c;
            if denom < 0.0 {
                let off = 0.5 * (a - c) / denom;
                let peak = b - 0.25 * (a - c) * off;
                return (self.time(best) + off * self.step_day, peak.max(b));
            }
        }
        (self.time(best), v[best])
    }

    /// Trapezoidal area under output `k` between grid times nearest `from_day` and `to_day`.
    pub fn auc(&self, k: usize, from_day: f64, to_day: f64) -> f64 {
        let v = self.output(k);
        let (i0, i1) = (self.index_of(from_day), self.index_of(to_day));
        let mut s = 0.0;
        for i in i0..i1 {
            s += 0.5 * (v[i] + v[i + 1]) * self.step_day;
        }
        s
    }

    /// First time at or after `from_day` when output `k` falls below `threshold`, with
    /// log-linear interpolation between grid points (linear if a value is ≤ 0). NaN if never.
    pub fn first_below(&self, k: usize, threshold: f64, from_day: f64) -> f64 {
        let v = self.output(k);
        let i0 = self.index_of(from_day);
        if v.get(i0).is_some_and(|&x| x < threshold) {
            return self.time(i0);
        }
        for i in i0 + 1..v.len() {
            if v[i] < threshold {
                return self.time(i - 1) + crossing(v[i - 1], v[i], threshold) * self.step_day;
            }
        }
        f64::NAN
    }

    /// First time after `from_day` when output `k` rises to `threshold` or above (log-linear
    /// interpolation). NaN if never.
    pub fn first_at_or_above(&self, k: usize, threshold: f64, from_day: f64) -> f64 {
        let v = self.output(k);
        let i0 = self.index_of(from_day);
        if v.get(i0).is_some_and(|&x| x >= threshold) {
            return self.time(i0);
        }
        for i in i0 + 1..v.len() {
            if v[i] >= threshold {
                return self.time(i - 1) + crossing(v[i - 1], v[i], threshold) * self.step_day;
            }
        }
        f64::NAN
    }
}

/// Fraction of a grid step at which a segment from `a` to `b` crosses `c`: log-linear when all
/// are positive, linear otherwise.
fn crossing(a: f64, b: f64, c: f64) -> f64 {
    let f = if a > 0.0 && b > 0.0 && c > 0.0 && (a.ln() - b.ln()).abs() > 1e-300 {
        (a.ln() - c.ln()) / (a.ln() - b.ln())
    } else if (a - b).abs() > 0.0 {
        (a - c) / (a - b)
    } else {
        1.0
    };
    f.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traj(f: impl Fn(f64) -> f64) -> Trajectory {
        let mut t = Trajectory::default();
        t.reset(-2.0, 10.0, 0.25, 1);
        for i in 0..t.len() {
            let x = t.time(i);
            t.set_row(i, &[f(x)]);
        }
        t
    }

    #[test]
    fn grid_and_interpolation() {
        let t = traj(|x| 2.0 * x);
        assert_eq!(t.len(), 49);
        assert_eq!(t.time(48), 10.0);
        assert!((t.value_at(0, 3.1) - 6.2).abs() < 1e-12);
        assert!((t.auc(0, 0.0, 4.0) - 16.0).abs() < 1e-12);
    }

    #[test]
    fn peak_is_refined() {
        let t = traj(|x| 5.0 - (x - 3.1) * (x - 3.1));
        let (d, v) = t.peak(0, 0.0);
        assert!((d - 3.1).abs() < 1e-9, "{d}");
        assert!((v - 5.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn crossings_log_linear() {
        let t = traj(|x| 100.0 * (-(x.max(0.0))).exp());
        let d = t.first_below(0, 1.0, 0.0);
        assert!((d - 100f64.ln()).abs() < 1e-9, "{d}");
        let u = traj(|x| (x - 1.0).exp());
        let d = u.first_at_or_above(0, 20.0, 0.0);
        assert!((d - (1.0 + 20f64.ln())).abs() < 1e-9, "{d}");
        assert!(u.first_below(0, -1.0, 0.0).is_nan());
    }
}
