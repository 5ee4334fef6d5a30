//! The model card (`model.toml` next to an `.egm`) as far as the CLI needs it: class names,
//! so `--class Sneaker` works; and where the default model lives.
//!
//! Cards are written by people and by the trainer, with `class_names` at the top level or
//! under `[model]`, `[data]`, `[dataset]` or `[architecture]`. Rather than pin one schema
//! (and pull a TOML crate into the lock file for one key), [`class_names`] scans the TOML
//! for any `class_names = [ "…", … ]` outside strings and comments.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The card's file name, next to the model.
pub const CARD: &str = "model.toml";

/// The default model, relative to the repository root.
pub const DEFAULT_MODEL: &str = "models/fashion-cgan/model.w8a8.egm";

/// Overrides the repository root that the default model is found under (tests use it).
pub const REPO_ENV: &str = "FIRMWARE_SIM_REPO";

/// The card of `model`: `model.toml` in the same folder.
pub fn card_path(model: &Path) -> PathBuf {
    model.with_file_name(CARD)
}

fn card_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Card {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The `class_names` of the card at `path`, `Ok(None)` if the card has none.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be read, [`Error::Card`] if a `class_names` is not an array
/// of strings, or two `class_names` in the card disagree.
pub fn class_names(path: &Path) -> Result<Option<Vec<String>>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "reading model card",
        path: path.to_path_buf(),
        source,
    })?;
    let found = scan_class_names(&text).map_err(|reason| card_error(path, reason))?;
    let mut lists = found.into_iter();
    let Some(first) = lists.next() else {
        return Ok(None);
    };
    if lists.any(|other| other != first) {
        return Err(card_error(path, "it has two different `class_names` lists"));
    }
    Ok(Some(first))
}

/// Resolves a `--class` argument: an index, or a class name from `model`'s card
/// (case-insensitive). The index is range-checked later, against the model.
///
/// # Errors
///
/// [`Error::Condition`] for a negative index, a name without a card (or a card without
/// names), or a name the card does not list; the card's own errors.
pub fn resolve_class(arg: &str, model: &Path, classes: Option<u32>) -> Result<u32> {
    let arg = arg.trim();
    if let Ok(i) = arg.parse::<u32>() {
        return Ok(i);
    }
    if let Ok(i) = arg.parse::<i64>() {
        return Err(Error::Condition(format!(
            "class {i} out of range: classes are numbered from 0"
        )));
    }
    let card = card_path(model);
    let range = classes.map_or(String::new(), |k| {
        format!(" (0 to {})", k.saturating_sub(1))
    });
    if !card.is_file() {
        return Err(Error::Condition(format!(
            "--class {arg:?} is not a class index, and there is no model card {} to look \
             the name up in: give an index{range}",
            card.display()
        )));
    }
    let Some(names) = class_names(&card)? else {
        return Err(Error::Condition(format!(
            "--class {arg:?} is not a class index, and the model card {} has no \
             `class_names`: give an index{range}",
            card.display()
        )));
    };
    if let Some(k) = classes
        && names.len() != k as usize
    {
        return Err(card_error(
            &card,
            format!(
                "`class_names` has {} names, but the model has {k} classes",
                names.len()
            ),
        ));
    }
    names
        .iter()
        .position(|n| n.to_lowercase() == arg.to_lowercase())
        .map(|i| i as u32)
        .ok_or_else(|| {
            Error::Condition(format!(
                "no class named {arg:?} in {} (classes: {})",
                card.display(),
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{i} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The repository root: [`REPO_ENV`] if set; else the first folder from the current one
/// upwards that holds `firmware-sim/Cargo.toml`; else the checkout this binary was built
/// from, if it is still there.
pub fn repo_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(REPO_ENV) {
        return Some(PathBuf::from(dir));
    }
    let is_root = |d: &Path| d.join("firmware-sim").join("Cargo.toml").is_file();
    if let Ok(cwd) = std::env::current_dir()
        && let Some(d) = cwd.ancestors().find(|d| is_root(d))
    {
        return Some(d.to_path_buf());
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    is_root(&built).then(|| built.canonicalize().unwrap_or(built))
}

/// The default model's path, checked to exist.
///
/// # Errors
///
/// [`Error::DefaultModel`] naming the missing file and how to make it.
pub fn default_model() -> Result<PathBuf> {
    let Some(root) = repo_root() else {
        return Err(Error::DefaultModel(format!(
            "no --model given, and no edgegan checkout (a folder with firmware-sim/Cargo.toml) \
             above the current folder to find the default model {DEFAULT_MODEL} in: pass \
             --model FILE.egm"
        )));
    };
    let path = root.join(DEFAULT_MODEL);
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::DefaultModel(format!(
        "no --model given, and the default model {} is missing: get it with `git checkout -- \
         {DEFAULT_MODEL}` (it is shipped in the repository), or compile it from the shipped \
         ONNX with `firmware-sim compile {}/generator.onnx --out-dir {}`, or pass --model \
         FILE.egm",
        path.display(),
        root.join("models/fashion-cgan").display(),
        root.join("models/fashion-cgan").display(),
    )))
}

/// A character cursor over TOML text.
struct Scan<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl Scan<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    fn bump(&mut self) -> Option<char> {
        self.chars.next().map(|(_, c)| c)
    }

    fn rest(&mut self) -> &str {
        let at = self.chars.peek().map_or(self.text.len(), |&(i, _)| i);
        &self.text[at..]
    }

    /// Skips spaces, tabs, newlines (when `lines`) and comments.
    fn skip_blank(&mut self, lines: bool) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => {
                    self.bump();
                }
                '\n' if lines => {
                    self.bump();
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    /// A string starting at the current quote (basic, literal, or either multi-line form).
    fn string(&mut self) -> Result<String, String> {
        let quote = self.bump().ok_or("unexpected end")?;
        let multi = if self.rest().starts_with(&format!("{quote}{quote}")) {
            self.bump();
            self.bump();
            // A newline right after the opening delimiter is not part of the string.
            if self.peek() == Some('\n') {
                self.bump();
            } else if self.rest().starts_with("\r\n") {
                self.bump();
                self.bump();
            }
            true
        } else {
            false
        };
        let mut s = String::new();
        loop {
            let c = self.bump().ok_or("a string is not closed")?;
            if c == quote {
                if !multi {
                    return Ok(s);
                }
                if self.rest().starts_with(&format!("{quote}{quote}")) {
                    self.bump();
                    self.bump();
                    return Ok(s);
                }
                s.push(c);
            } else if c == '\n' && !multi {
                return Err("a string runs past the end of its line".into());
            } else if c == '\\' && quote == '"' {
                let e = self.bump().ok_or("a string is not closed")?;
                match e {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'e' => s.push('\u{1b}'),
                    '"' | '\\' => s.push(e),
                    'u' | 'U' | 'x' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..n).filter_map(|_| self.bump()).collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape \\{e}{hex}"))?;
                        s.push(ch);
                    }
                    '\n' | ' ' | '\t' | '\r' if multi => {
                        // A line-ending backslash trims the following whitespace.
                        while self
                            .peek()
                            .is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
                        {
                            self.bump();
                        }
                    }
                    _ => return Err(format!("bad escape \\{e}")),
                }
            } else {
                s.push(c);
            }
        }
    }

    /// An array of strings after `=`; `Err` if an element is not a string.
    fn string_array(&mut self) -> Result<Vec<String>, String> {
        self.bump(); // '['
        let mut out = vec![];
        loop {
            self.skip_blank(true);
            match self.peek() {
                Some(']') => {
                    self.bump();
                    return Ok(out);
                }
                Some('"' | '\'') => out.push(self.string()?),
                Some(_) => return Err("`class_names` must be an array of strings".into()),
                None => return Err("`class_names` is not closed with `]`".into()),
            }
            self.skip_blank(true);
            match self.bump() {
                Some(',') => {}
                Some(']') => return Ok(out),
                _ => return Err("`class_names`: expected `,` or `]`".into()),
            }
        }
    }
}

/// Every `class_names = [...]` in `text` (bare, quoted or the last part of a dotted key, in
/// any table or inline table), in file order.
pub(crate) fn scan_class_names(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut s = Scan {
        chars: text.char_indices().peekable(),
        text,
    };
    let mut found = vec![];
    loop {
        s.skip_blank(true);
        let Some(c) = s.peek() else {
            return Ok(found);
        };
        let key = match c {
            '"' | '\'' => Some(s.string()?),
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => {
                let mut w = String::new();
                while let Some(c) = s
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                {
                    w.push(c);
                    s.bump();
                }
                Some(w)
            }
            _ => {
                s.bump();
                None
            }
        };
        if key.as_deref() != Some("class_names") {
            continue;
        }
        s.skip_blank(false);
        if s.peek() != Some('=') {
            continue;
        }
        s.bump();
        s.skip_blank(false);
        if s.peek() == Some('[') {
            found.push(s.string_array()?);
        } else {
            return Err("`class_names` must be an array of strings".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_found_in_any_table() {
        let text = r#"
# class_names = ["in a comment"]
name = "x"
description = """
class_names = ["in a string"]"""
[model]
"class_names" = [
    "T-shirt/top", 'Trouser', # a comment
    "Say \"hi\"\u00e9",
]
[data]
other = { class_names = ["T-shirt/top", "Trouser", "Say \"hi\"é"] }
"#;
        let found = scan_class_names(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0], vec!["T-shirt/top", "Trouser", "Say \"hi\"é"]);
        assert_eq!(found[0], found[1]);
        assert!(scan_class_names("name = 'a'\n").unwrap().is_empty());
        assert!(scan_class_names("class_names = [1, 2]").is_err());
        assert!(scan_class_names("class_names = \"a\"").is_err());
        assert!(scan_class_names("class_names = [\"a\"").is_err());
    }
}
