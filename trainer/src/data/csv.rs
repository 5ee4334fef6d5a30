//! A user's CSV: a header row, numeric columns and an optional label column, loaded into
//! memory (rows are drawn with replacement by [`super::Dataset`]).
//!
//! Labels are integers (class = value, as before) or, as users have them, strings: when
//! any label is not a number, the distinct labels in sorted order are the classes
//! (`east, north, south` -> 0, 1, 2), and that list travels as the class names.

use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// A CSV file loaded into memory.
#[derive(Debug, Clone)]
pub struct CsvData {
    /// where it came from
    pub path: PathBuf,
    /// names of the numeric columns
    pub columns: Vec<String>,
    /// row-major values
    pub values: Vec<f32>,
    /// per-row labels when a label column was named
    pub labels: Option<Vec<i64>>,
    /// number of classes (max label + 1, or the distinct string labels), 1 without labels
    pub classes: usize,
    /// class names, index = label: the string labels in sorted order, or the integer
    /// values (`0`, `1`, ...)
    pub class_names: Vec<String>,
}

/// Whether a label cell reads as a number (then it must be a non-negative integer; a
/// column with any other text is a string-label column).
fn is_numeric(cell: &str) -> bool {
    cell.parse::<f64>().is_ok()
}

/// Reads a CSV with a header row: every column numeric, except the optional integer
/// label column. Errors name the file, the 1-based line and the column.
pub fn read_csv(path: &Path, label_column: Option<&str>) -> Result<CsvData> {
    let data_err = |message: String| TrainError::Data {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .trim(::csv::Trim::All)
        .from_path(path)
        .map_err(|e| data_err(e.to_string()))?;
    let headers = reader
        .headers()
        .map_err(|e| data_err(e.to_string()))?
        .clone();
    let label_idx = match label_column {
        Some(name) => Some(
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| data_err(format!("no column named `{name}` in the header")))?,
        ),
        None => None,
    };
    let columns: Vec<String> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != label_idx)
        .map(|(_, h)| h.to_string())
        .collect();
    if columns.is_empty() {
        return Err(data_err("no numeric columns".into()));
    }
    let mut values = Vec::new();
    // raw label cells with their line; classes are assigned once all are read
    let mut raw_labels: Vec<(usize, String)> = Vec::new();
    for (row_idx, record) in reader.records().enumerate() {
        // line 1 is the header
        let line = row_idx + 2;
        let record = record.map_err(|e| data_err(format!("line {line}: {e}")))?;
        if record.len() != headers.len() {
            return Err(data_err(format!(
                "line {line}: {} fields, the header has {}",
                record.len(),
                headers.len()
            )));
        }
        for (col, cell) in record.iter().enumerate() {
            let name = &headers[col];
            if Some(col) == label_idx {
                if cell.is_empty() {
                    return Err(data_err(format!(
                        "line {line}, column `{name}`: the label is empty"
                    )));
                }
                raw_labels.push((line, cell.to_string()));
            } else {
                let v: f32 = cell.parse().map_err(|_| {
                    data_err(format!(
                        "line {line}, column `{name}`: `{cell}` is not a number"
                    ))
                })?;
                if !v.is_finite() {
                    return Err(data_err(format!(
                        "line {line}, column `{name}`: `{cell}` is not finite"
                    )));
                }
                values.push(v);
            }
        }
    }
    if values.is_empty() {
        return Err(data_err("no data rows".into()));
    }
    let (labels, class_names) = match label_idx {
        Some(col) => {
            let (labels, names) = classes_of(&raw_labels, &headers[col], &data_err)?;
            (Some(labels), names)
        }
        None => (None, vec!["all".to_string()]),
    };
    Ok(CsvData {
        path: path.to_path_buf(),
        columns,
        values,
        labels,
        classes: class_names.len(),
        class_names,
    })
}

/// Class indices and names of the label cells: integer labels as they are (names `0`,
/// `1`, ...), string labels as their index in the sorted distinct values.
fn classes_of(
    cells: &[(usize, String)],
    name: &str,
    data_err: &dyn Fn(String) -> TrainError,
) -> Result<(Vec<i64>, Vec<String>)> {
    if cells.iter().all(|(_, c)| is_numeric(c)) {
        let mut labels = Vec::with_capacity(cells.len());
        for (line, cell) in cells {
            let label: i64 = cell.parse().map_err(|_| {
                data_err(format!(
                    "line {line}, column `{name}`: label `{cell}` is not a non-negative integer"
                ))
            })?;
            if label < 0 {
                return Err(data_err(format!(
                    "line {line}, column `{name}`: label {label} is negative"
                )));
            }
            // integer labels are class indices: the class count is the largest + 1
            if label as u64 >= crate::config::limits::MAX_CLASSES as u64 {
                return Err(data_err(format!(
                    "line {line}, column `{name}`: label {label} is above the limit of {} \
                     classes (integer labels are class indices 0..{})",
                    crate::config::limits::MAX_CLASSES,
                    crate::config::limits::MAX_CLASSES
                )));
            }
            labels.push(label);
        }
        let classes = labels.iter().max().map_or(1, |m| *m as usize + 1);
        return Ok((labels, (0..classes).map(|i| i.to_string()).collect()));
    }
    let names: Vec<String> = cells
        .iter()
        .map(|(_, c)| c.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let labels = cells
        .iter()
        .map(|(_, c)| names.binary_search(c).map_or(0, |i| i as i64))
        .collect();
    Ok((labels, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn csv_with_label_column_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ok.csv", "a,label,b\n1.0,0,2\n3,2,4.5\n");
        let c = read_csv(&p, Some("label")).unwrap();
        assert_eq!(c.columns, vec!["a", "b"]);
        assert_eq!(c.values, vec![1.0, 2.0, 3.0, 4.5]);
        assert_eq!(c.labels, Some(vec![0, 2]));
        assert_eq!(c.classes, 3);
        assert_eq!(c.class_names, vec!["0", "1", "2"]);
    }

    #[test]
    fn string_labels_become_classes_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "s.csv",
            "east_km,label,north_km\n1,north,2\n3,south,4\n5,east,6\n7,north,8\n",
        );
        let c = read_csv(&p, Some("label")).unwrap();
        assert_eq!(c.columns, vec!["east_km", "north_km"]);
        assert_eq!(c.class_names, vec!["east", "north", "south"]);
        assert_eq!(c.labels, Some(vec![1, 2, 0, 1]));
        assert_eq!(c.classes, 3);
        let p = write(dir.path(), "e.csv", "a,label\n1,north\n2,\n");
        let err = read_csv(&p, Some("label")).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("empty"), "{err}");
    }

    #[test]
    fn csv_non_numeric_cell_error_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad.csv", "a,b\n1,2\n3,oops\n");
        let err = read_csv(&p, None).unwrap_err().to_string();
        assert!(err.contains("bad.csv"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("`b`"), "{err}");
        assert!(err.contains("oops"), "{err}");
    }

    #[test]
    fn csv_bad_label_and_missing_label_column_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "l.csv", "a,label\n1,0\n2,-1\n");
        let err = read_csv(&p, Some("label")).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("negative"), "{err}");
        let p = write(dir.path(), "l2.csv", "a,label\n1,0.5\n");
        let err = read_csv(&p, Some("label")).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("0.5"), "{err}");
        let err = read_csv(&p, Some("class")).unwrap_err().to_string();
        assert!(err.contains("no column named `class`"), "{err}");
    }

    #[test]
    fn csv_ragged_empty_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "ragged.csv", "a,b\n1,2\n3\n");
        let err = read_csv(&p, None).unwrap_err().to_string();
        assert!(
            err.contains("ragged.csv") && err.contains("line 3"),
            "{err}"
        );
        let p = write(dir.path(), "empty.csv", "a,b\n");
        let err = read_csv(&p, None).unwrap_err().to_string();
        assert!(err.contains("no data rows"), "{err}");
        let err = read_csv(&dir.path().join("nope.csv"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.csv"), "{err}");
        let p = write(dir.path(), "nan.csv", "a\nNaN\n");
        let err = read_csv(&p, None).unwrap_err().to_string();
        assert!(err.contains("not finite"), "{err}");
    }
}
