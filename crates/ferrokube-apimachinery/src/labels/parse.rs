//! The string form of a label selector, read as Kubernetes' `labels.Parse` reads it:
//! a lexer into tokens, then a recursive-descent parser over them.
//!
//! The grammar (comma means AND):
//!
//! ```text
//! selector    := requirement ("," requirement)* | ""
//! requirement := "!" KEY | KEY [ op VALUE | ("in" | "notin") "(" values ")" ]
//! op          := "=" | "==" | "!=" | ">" | "<"
//! values      := VALUE ("," VALUE)*       (empty values allowed: "(a,,b)", "()")
//! ```
//!
//! As in Kubernetes: whitespace is space, tab, CR and LF; `in` and `notin` are
//! keywords only where an operator stands (`in=notin` is key `in`, value `notin`); a NUL
//! byte ends the selector; values of a set are sorted and deduplicated; the
//! requirements are sorted by key; keys and values are validated with
//! [`validation`](super::validation), and `>`/`<` take an integer.

use super::error::{Expected, SelectorErrorReason};
use super::validation::is_label_key;
use super::{Operator, Requirement};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    End,
    ClosedPar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    Gt,
    Ident,
    In,
    Lt,
    NotEquals,
    NotIn,
    OpenPar,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::ClosedPar,
        "," => Tok::Comma,
        "!" => Tok::Not,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::Gt,
        "in" => Tok::In,
        "<" => Tok::Lt,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenPar,
        _ => return None,
    })
}

/// Splits `s` into tokens and their text; the last token is [`Tok::End`].
fn lex(s: &str) -> Vec<(Tok, &str)> {
    // Kubernetes' lexer reads a NUL byte as the end of the input.
    let s = s.split('\0').next().unwrap_or_default();
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && is_whitespace(b[i]) {
            i += 1;
        }
        if i == b.len() {
            out.push((Tok::End, ""));
            return out;
        }
        let start = i;
        if is_special(b[i]) {
            // The longest run of special characters that is a token: `!=`, `==`.
            let mut best = None;
            while i < b.len() && is_special(b[i]) {
                match keyword(&s[start..=i]) {
                    Some(t) => best = Some((t, i + 1)),
                    None if best.is_some() => break,
                    None => {}
                }
                i += 1;
            }
            // Every special character alone is a token, so `best` is set.
            let (tok, end) = best.unwrap_or((Tok::Ident, i));
            i = end;
            out.push((tok, &s[start..end]));
        } else {
            while i < b.len() && !is_special(b[i]) && !is_whitespace(b[i]) {
                i += 1;
            }
            let word = &s[start..i];
            out.push((keyword(word).unwrap_or(Tok::Ident), word));
        }
    }
}

/// Whether the parser stands where `in`/`notin` are operators or plain words.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    KeyAndOperator,
    Values,
}

struct Parser<'a> {
    toks: Vec<(Tok, &'a str)>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn lookahead(&self, ctx: Ctx) -> (Tok, &'a str) {
        let (t, lit) = self.toks[self.pos.min(self.toks.len() - 1)];
        match (ctx, t) {
            (Ctx::Values, Tok::In | Tok::NotIn) => (Tok::Ident, lit),
            _ => (t, lit),
        }
    }

    fn consume(&mut self, ctx: Ctx) -> (Tok, &'a str) {
        let item = self.lookahead(ctx);
        self.pos += 1;
        item
    }
}

fn unexpected(found: &str, expected: Expected) -> SelectorErrorReason {
    SelectorErrorReason::Unexpected { found: found.to_owned(), expected }
}

/// Parses the string form into requirements sorted by key.
pub(super) fn parse(selector: &str) -> Result<Vec<Requirement>, SelectorErrorReason> {
    let mut p = Parser { toks: lex(selector), pos: 0 };
    let mut requirements = Vec::new();
    loop {
        let (tok, lit) = p.lookahead(Ctx::Values);
        match tok {
            Tok::Ident | Tok::Not => {
                requirements.push(parse_requirement(&mut p)?);
                let (t, l) = p.consume(Ctx::Values);
                match t {
                    Tok::End => break,
                    Tok::Comma => {
                        let (t2, l2) = p.lookahead(Ctx::Values);
                        if t2 != Tok::Ident && t2 != Tok::Not {
                            return Err(unexpected(l2, Expected::IdentifierAfterComma));
                        }
                    }
                    _ => return Err(unexpected(l, Expected::CommaOrEnd)),
                }
            }
            Tok::End => break,
            _ => return Err(unexpected(lit, Expected::Requirement)),
        }
    }
    // Stable, so requirements on one key keep their order.
    requirements.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(requirements)
}

fn parse_requirement(p: &mut Parser<'_>) -> Result<Requirement, SelectorErrorReason> {
    let (mut tok, mut lit) = p.consume(Ctx::Values);
    let negated = tok == Tok::Not;
    if negated {
        (tok, lit) = p.consume(Ctx::Values);
    }
    if tok != Tok::Ident {
        return Err(unexpected(lit, Expected::Identifier));
    }
    let key = lit.to_owned();
    let problems = is_label_key(&key);
    if !problems.is_empty() {
        return Err(SelectorErrorReason::InvalidKey { key, problems });
    }
    let (next, _) = p.lookahead(Ctx::Values);
    if negated {
        // `!key` is complete; what follows must be `,` or the end (checked by the caller).
        return Requirement::new(key, Operator::DoesNotExist, Vec::new());
    }
    if matches!(next, Tok::End | Tok::Comma) {
        return Requirement::new(key, Operator::Exists, Vec::new());
    }
    let (tok, lit) = p.consume(Ctx::KeyAndOperator);
    let op = match tok {
        Tok::In => Operator::In,
        Tok::Equals => Operator::Equals,
        Tok::DoubleEquals => Operator::DoubleEquals,
        Tok::Gt => Operator::GreaterThan,
        Tok::Lt => Operator::LessThan,
        Tok::NotIn => Operator::NotIn,
        Tok::NotEquals => Operator::NotEquals,
        _ => return Err(unexpected(lit, Expected::Operator)),
    };
    let mut values = match op {
        Operator::In | Operator::NotIn => parse_values(p)?,
        _ => parse_exact_value(p)?,
    };
    values.sort();
    values.dedup();
    Requirement::new(key, op, values)
}

/// `(v1,v2,...)`, where empty values are allowed (`()`, `(a,)`, `(,a)`, `(a,,b)`).
fn parse_values(p: &mut Parser<'_>) -> Result<Vec<String>, SelectorErrorReason> {
    let (tok, lit) = p.consume(Ctx::Values);
    if tok != Tok::OpenPar {
        return Err(unexpected(lit, Expected::OpenParen));
    }
    let (tok, lit) = p.lookahead(Ctx::Values);
    match tok {
        Tok::Ident | Tok::Comma => {
            let values = parse_identifiers_list(p)?;
            if p.consume(Ctx::Values).0 != Tok::ClosedPar {
                // Kubernetes names the token after `(` here.
                return Err(unexpected(lit, Expected::CloseParen));
            }
            Ok(values)
        }
        Tok::ClosedPar => {
            p.consume(Ctx::Values);
            Ok(vec![String::new()])
        }
        _ => Err(unexpected(lit, Expected::CommaCloseParenOrIdentifier)),
    }
}

fn parse_identifiers_list(p: &mut Parser<'_>) -> Result<Vec<String>, SelectorErrorReason> {
    let mut values: Vec<String> = Vec::new();
    loop {
        let (tok, lit) = p.consume(Ctx::Values);
        match tok {
            Tok::Ident => {
                values.push(lit.to_owned());
                let (t2, l2) = p.lookahead(Ctx::Values);
                match t2 {
                    Tok::Comma => continue,
                    Tok::ClosedPar => return Ok(values),
                    _ => return Err(unexpected(l2, Expected::CommaOrCloseParen)),
                }
            }
            Tok::Comma => {
                if values.is_empty() {
                    values.push(String::new()); // "(,"
                }
                match p.lookahead(Ctx::Values).0 {
                    Tok::ClosedPar => {
                        values.push(String::new()); // ",)"
                        return Ok(values);
                    }
                    Tok::Comma => {
                        p.consume(Ctx::Values);
                        values.push(String::new()); // ",,"
                    }
                    _ => {}
                }
            }
            _ => return Err(unexpected(lit, Expected::CommaOrIdentifier)),
        }
    }
}

/// The single value of `=`, `==`, `!=`, `>`, `<` (empty at `,` or the end).
fn parse_exact_value(p: &mut Parser<'_>) -> Result<Vec<String>, SelectorErrorReason> {
    let (tok, _) = p.lookahead(Ctx::Values);
    if matches!(tok, Tok::End | Tok::Comma) {
        return Ok(vec![String::new()]);
    }
    let (tok, lit) = p.consume(Ctx::Values);
    if tok == Tok::Ident {
        return Ok(vec![lit.to_owned()]);
    }
    Err(unexpected(lit, Expected::Identifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(Tok, &str)> {
        lex(s)
    }

    #[test]
    fn lexes_like_kubernetes() {
        use Tok::*;
        assert_eq!(
            toks("a!=b,c==d  e in (f) !g"),
            [
                (Ident, "a"),
                (NotEquals, "!="),
                (Ident, "b"),
                (Comma, ","),
                (Ident, "c"),
                (DoubleEquals, "=="),
                (Ident, "d"),
                (Ident, "e"),
                (In, "in"),
                (OpenPar, "("),
                (Ident, "f"),
                (ClosedPar, ")"),
                (Not, "!"),
                (Ident, "g"),
                (End, ""),
            ]
        );
        assert_eq!(toks("a=(")[1..3], [(Equals, "="), (OpenPar, "(")]);
        assert_eq!(toks("!!a")[..2], [(Not, "!"), (Not, "!")]);
        assert_eq!(toks("a=b\0c,d"), [(Ident, "a"), (Equals, "="), (Ident, "b"), (End, "")]);
        assert_eq!(toks(" \t\r\n"), [(End, "")]);
    }
}
