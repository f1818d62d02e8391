//! Where an error is in the text: key path, line and column.
//!
//! Type errors, unknown and missing keys come from serde with their key path
//! ([`serde_path_to_error`]) and from `toml` with their span; syntax errors, which stop the
//! parser before serde runs, take the key whose span holds the error in the parser's
//! error-tolerant tree ([`DeTable::parse_recoverable`]). Errors of the builders carry the key
//! path they are about ([`Located`]), which [`locate`] finds in the parsed document.

use serde::Deserialize;
use serde_path_to_error::Segment;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Error, ScenarioError, SpecError};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted key path such as `regimen.doses[1].amount`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct KeyPath(Vec<Seg>);

impl KeyPath {
    pub(super) fn root() -> Self {
        KeyPath(Vec::new())
    }
    pub(super) fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }
    pub(super) fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
    /// Parses `a.b[2].c` (as written by the builders' field names).
    pub(super) fn parse(s: &str) -> Self {
        let mut v = Vec::new();
        for part in s.split('.') {
            let (name, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                v.push(Seg::Key(name.to_string()));
            }
            for idx in rest.split('[').filter(|x| !x.is_empty()) {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    v.push(Seg::Index(i));
                }
            }
        }
        KeyPath(v)
    }
    pub(super) fn display(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut s = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        Some(s)
    }
}

/// An error with the key it is about.
pub(super) struct Located {
    pub(super) path: KeyPath,
    pub(super) error: Error,
}

pub(super) fn at(path: KeyPath, error: impl Into<Error>) -> Located {
    Located {
        path,
        error: error.into(),
    }
}

/// A checker's error located at the key its [`SpecError::Invalid`] field names (a key path such
/// as `population.age_years` or `definitions.month3_day`), or at `path` when it names none.
pub(super) fn at_field(path: &KeyPath, error: SpecError) -> Located {
    let p = match &error {
        SpecError::Invalid { field, .. } => KeyPath::parse(field),
        _ => path.clone(),
    };
    at(p, error)
}

pub(super) fn invalid(path: &KeyPath, reason: impl Into<String>) -> Located {
    at(
        path.clone(),
        SpecError::Invalid {
            field: path.display().unwrap_or_default(),
            reason: reason.into(),
        },
    )
}

/// Reads `T` from TOML `text`; an error names the key path, line and column.
pub(super) fn deserialize<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, Error> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| {
        let path = e
            .span()
            .map_or_else(KeyPath::root, |s| key_at(text, s.start));
        Error::from(from_toml_error(text, &e, path))
    })?;
    serde_path_to_error::deserialize(de)
        .map_err(|e| Error::from(from_toml_error(text, e.inner(), e.path().into())))
}

/// A builder's error located in `text`, the builder's typed error as its cause.
pub(super) fn in_text(text: &str, l: Located) -> ScenarioError {
    let mut e = ScenarioError::new(l.path.display(), l.error.to_string());
    if let Some((line, column, src)) = locate(text, &l.path) {
        e.line = Some(line);
        e.column = Some(column);
        e.source_line = Some(src);
    }
    e.cause = Some(Box::new(l.error));
    e
}

impl From<&serde_path_to_error::Path> for KeyPath {
    fn from(p: &serde_path_to_error::Path) -> Self {
        KeyPath(
            p.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        Some(Seg::Key(key.clone()))
                    }
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

/// Converts a TOML error about the key at `path` into a [`ScenarioError`] with its position.
fn from_toml_error(text: &str, e: &toml::de::Error, mut path: KeyPath) -> ScenarioError {
    let message = e.message().trim().to_string();
    // serde names a missing key, and an unknown key inside an internally tagged table (a
    // covariate distribution), only in the message; the path ends at the table.
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p)?.split('`').next());
    if let Some(f) = field {
        if path.0.last() != Some(&Seg::Key(f.to_string())) {
            path.0.push(Seg::Key(f.to_string()));
        }
    }
    let mut err = ScenarioError::new(path.display(), message.clone());
    if let Some(span) = e.span() {
        let (line, column, src) = line_col(text, span.start);
        err.line = Some(line);
        err.column = Some(column);
        err.source_line = Some(src);
    }
    err
}

/// The path of the innermost key whose key or value span holds byte `offset`, in the
/// parser's error-tolerant tree of `text` (root when none does).
fn key_at(text: &str, offset: usize) -> KeyPath {
    let (doc, _) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    if in_table(doc.get_ref(), offset, &mut path) {
        KeyPath(path)
    } else {
        KeyPath::root()
    }
}

/// Whether a span holds `offset` (an empty span holds its start).
fn holds(span: std::ops::Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

/// Whether a key's span holds `offset` or ends right before it (an unclosed `[table`).
fn at_key(span: std::ops::Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// Searches a table, extending `path` to the innermost hit (true when found).
fn in_table(t: &DeTable<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    for (k, v) in t.iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        if in_value(v, offset, path) || at_key(k.span(), offset) {
            return true;
        }
        path.pop();
    }
    false
}

/// Searches a value: its tables and arrays first (the innermost key wins), then itself.
fn in_value(v: &Spanned<DeValue<'_>>, offset: usize, path: &mut Vec<Seg>) -> bool {
    match v.get_ref() {
        DeValue::Table(t) if in_table(t, offset, path) => return true,
        DeValue::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                if in_value(x, offset, path) {
                    return true;
                }
                path.pop();
            }
        }
        _ => {}
    }
    holds(v.span(), offset)
}

// ---------------------------------------------------------------------------------------------
// Positions in the TOML text.

/// 1-based line and column (in characters) of byte `offset`, and that line's text.
fn line_col(text: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    let src = text
        .get(line_start..)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    (line, column, src)
}

/// Where `path` is in `text`: the key when it is present, else the deepest present ancestor.
pub(super) fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize, String)> {
    let doc = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut span: Option<std::ops::Range<usize>> = None;
    for seg in &path.0 {
        match seg {
            Seg::Key(k) => {
                let t = match (table, value) {
                    (Some(t), _) => t,
                    (None, Some(v)) => match v.get_ref() {
                        DeValue::Table(t) => t,
                        _ => break,
                    },
                    _ => break,
                };
                let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref() == k) else {
                    break;
                };
                span = Some(key.span());
                value = Some(v);
                table = None;
            }
            Seg::Index(i) => {
                let Some(DeValue::Array(a)) = value.map(|v| v.get_ref()) else {
                    break;
                };
                let Some(v) = a.get(*i) else {
                    break;
                };
                span = Some(v.span());
                value = Some(v);
                table = None;
            }
        }
    }
    span.map(|s| line_col(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_parse_and_display() {
        let p = KeyPath::parse("regimen.doses[2].times_day[0]");
        assert_eq!(
            p.display().as_deref(),
            Some("regimen.doses[2].times_day[0]")
        );
        assert_eq!(KeyPath::root().display(), None);
    }

    #[test]
    fn syntax_errors_take_the_key_whose_span_holds_them() {
        let t = "patients = 1\n[regimen]\n[[regimen.doses]]\ninput = 'x'\n[[regimen.doses]]\namount = 1x\n";
        let at = t.find("1x").unwrap();
        assert_eq!(
            key_at(t, at).display().as_deref(),
            Some("regimen.doses[1].amount")
        );
        let t = "[population]\nage_years = { dist = 'normal', mean = 1x }\n";
        assert_eq!(
            key_at(t, t.find("1x").unwrap()).display().as_deref(),
            Some("population.age_years.mean")
        );
        assert_eq!(key_at("a = 1\n\n", 6), KeyPath::root());
        let t = "patients = 3\n[regimen\n";
        assert_eq!(key_at(t, t.len() - 1).display().as_deref(), Some("regimen"));
    }

    #[test]
    fn line_and_column_count_characters() {
        let (l, c, s) = line_col("a = 1\nµ = 2\n", 9);
        assert_eq!((l, c, s.as_str()), (2, 3, "µ = 2"));
    }
}
