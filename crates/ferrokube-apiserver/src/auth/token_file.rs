//! kube-apiserver's `--token-auth-file`: a CSV file of `token,user,uid[,"group1,group2"]`.
//!
//! As in kube-apiserver: at least three columns, leading spaces trimmed, columns past the
//! fourth ignored, the fourth split on commas into groups, empty lines skipped, a record
//! with an empty token skipped, a later duplicate token wins. Lines starting with `#`
//! are not comments (kube's CSV reader has none) and fail for lack of columns.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::api::UserInfo;

/// The parsed entries of a token file. `Debug` never shows the tokens.
#[derive(Clone, Default)]
pub struct TokenFile {
    entries: Vec<(String, UserInfo)>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.entries.iter().map(|(_, u)| u.name.as_str()).collect();
        f.debug_struct("TokenFile").field("users", &users).finish()
    }
}

/// A token file that could not be read or parsed; names the file and line, never a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file could not be read.
    #[error("cannot read token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {path}, line {line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl TokenFile {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TokenFileError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parse the contents of a token file; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TokenFile, TokenFileError> {
        let mut entries = Vec::new();
        let err = |line: usize, message: String| TokenFileError::Parse { path: path.to_owned(), line, message };
        let mut lines = text.lines().enumerate();
        while let Some((index, line)) = lines.next() {
            let first_line = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            // A quoted field may span lines.
            let mut record = line.to_owned();
            let fields = loop {
                match split_csv(&record) {
                    Ok(fields) => break fields,
                    Err(CsvError::OpenQuote) => match lines.next() {
                        Some((_, next)) => {
                            record.push('\n');
                            record.push_str(next);
                        }
                        None => return Err(err(first_line, "unterminated quoted field".into())),
                    },
                    Err(CsvError::BareQuote) => return Err(err(first_line, "bare \" in non-quoted field".into())),
                }
            };
            if fields.len() < 3 {
                return Err(err(
                    first_line,
                    format!("must have at least 3 columns (token, user name, user uid), found {}", fields.len()),
                ));
            }
            if fields[0].is_empty() {
                continue;
            }
            let groups = match fields.get(3) {
                Some(g) if !g.is_empty() => g.split(',').map(|s| s.trim().to_owned()).collect(),
                _ => Vec::new(),
            };
            let user = UserInfo { name: fields[1].clone(), uid: fields[2].clone(), groups, extra: Default::default() };
            entries.retain(|(t, _): &(String, UserInfo)| *t != fields[0]);
            entries.push((fields[0].clone(), user));
        }
        Ok(TokenFile { entries })
    }

    /// Number of tokens.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The user a token names, if any.
    #[cfg(test)]
    pub fn user(&self, token: &str) -> Option<&UserInfo> {
        self.entries.iter().find(|(t, _)| t == token).map(|(_, u)| u)
    }

    /// The `(token, user)` pairs.
    pub fn into_entries(self) -> Vec<(String, UserInfo)> {
        self.entries
    }
}

enum CsvError {
    OpenQuote,
    BareQuote,
}

/// Split one CSV record as Go's encoding/csv does with `TrimLeadingSpace`.
fn split_csv(record: &str) -> Result<Vec<String>, CsvError> {
    let mut fields = Vec::new();
    let mut chars = record.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(CsvError::OpenQuote),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err(CsvError::BareQuote),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field.trim_end_matches('\r').to_owned());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(CsvError::BareQuote),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        TokenFile::parse(text, Path::new("/etc/tokens.csv"))
    }

    #[test]
    fn quoted_groups_and_extra_columns() {
        let f = parse("t1,alice,u1,\"system:masters,dev\"\n\n t2, bob,u2\nt3,carol,u3,ops,extra,columns\n").unwrap();
        assert_eq!(f.len(), 3);
        let a = f.user("t1").unwrap();
        assert_eq!(a.name, "alice");
        assert_eq!(a.uid, "u1");
        assert_eq!(a.groups, ["system:masters", "dev"]);
        assert_eq!(f.user("t2").unwrap().name, "bob");
        assert!(f.user("t2").unwrap().groups.is_empty());
        assert_eq!(f.user("t3").unwrap().groups, ["ops"]);
    }

    #[test]
    fn escaped_quotes_crlf_and_duplicates() {
        let f = parse("t1,\"a\"\"b\",u1\r\nt1,later,u2\r\n,skipped,u3\n").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f.user("t1").unwrap().name, "later");
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let e = parse("t1,alice,u1\nonly,two\n").unwrap_err().to_string();
        assert!(e.contains("/etc/tokens.csv") && e.contains("line 2"), "{e}");
        assert!(e.contains("at least 3 columns"), "{e}");
        let e = parse("t1,al\"ice,u1\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = parse("t1,alice,u1,\"open\n").unwrap_err().to_string();
        assert!(e.contains("unterminated"), "{e}");
        let e = parse("# comment\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains("t1"));
    }

    #[test]
    fn debug_hides_tokens() {
        let f = parse("s3cret,alice,u1\n").unwrap();
        assert!(!format!("{f:?}").contains("s3cret"));
    }
}
