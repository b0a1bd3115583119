//! "Did you mean …?" by edit distance, and words that differ from a known
//! one only by look-alike characters ([`lookalike`]), shared by the parser
//! and the catalog.

use std::fmt;

mod confusables;

/// Levenshtein distance between two strings, compared case-insensitively by
/// `char`. Runs in O(len(a) · len(b)) with one row of memory.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    if a.is_ascii() && b.len() < ASCII_ROW && b.is_ascii() {
        return ascii_distance(a.as_bytes(), b.as_bytes());
    }
    char_distance(a, b)
}

/// [`edit_distance`] for any text, by lowercased `char`.
fn char_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().flat_map(char::to_lowercase).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            let cost = usize::from(ca != *cb);
            row[j + 1] = (diagonal + cost).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The longest candidate [`ascii_distance`] takes, plus one.
const ASCII_ROW: usize = 32;

/// [`edit_distance`] for ASCII words (every verb and most service names),
/// with its row on the stack: an unknown verb is compared with all twelve,
/// on the parser's error path.
fn ascii_distance(a: &[u8], b: &[u8]) -> usize {
    let mut row = [0usize; ASCII_ROW];
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, ca) in a.iter().map(u8::to_ascii_lowercase).enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().map(u8::to_ascii_lowercase).enumerate() {
            let above = row[j + 1];
            let cost = usize::from(ca != cb);
            row[j + 1] = (diagonal + cost).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidate closest to `given`, if it is close enough to be a plausible
/// typo: at most one edit for short words, two for longer ones, and never
/// more than half the word. Ties go to the earlier candidate.
pub(crate) fn did_you_mean<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let len = given.chars().count();
    if len == 0 {
        return None;
    }
    let limit = if len <= 4 { 1 } else { 2 }.min(len.div_ceil(2));
    candidates
        .into_iter()
        // The difference in length is a lower bound of the distance.
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(given, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// One character that passes for a plain letter or digit, as [`lookalike`]
/// finds it. Its [`Display`](fmt::Display) names it, as in
/// "Cyrillic е, U+0435".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Lookalike {
    /// The character as typed, e.g. Cyrillic `'е'`.
    pub found: char,
    /// The plain character it passes for, e.g. `'e'`.
    pub plain: char,
    /// What kind of character it is: `"Cyrillic"`, `"Greek"`,
    /// `"Armenian"`, `"fullwidth"`, `"mathematical"`, …
    pub kind: &'static str,
}

impl Lookalike {
    /// `"letters"` or `"digits"`: what to type "with plain …".
    pub fn plain_kind(&self) -> &'static str {
        if self.plain.is_ascii_digit() {
            "digits"
        } else {
            "letters"
        }
    }
}

impl fmt::Display for Lookalike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = u32::from(self.found);
        write!(f, "{} {}, U+{code:04X}", self.kind, self.found)
    }
}

/// Whether `word` differs from `candidate` only by look-alike characters
/// (compared case-insensitively, character by character): `dеploy` with a
/// Cyrillic `е`, `ＡＰＰ` in fullwidth letters. Returns the first look-alike,
/// or `None` when the words are equal, differ in length, or differ by any
/// character that does not pass for the candidate's.
///
/// ```
/// use chatdeploy_core::suggest::lookalike;
///
/// let found = lookalike("d\u{0435}ploy", "deploy").expect("a look-alike");
/// assert_eq!((found.found, found.plain), ('\u{0435}', 'e'));
/// assert_eq!(found.to_string(), "Cyrillic \u{0435}, U+0435");
/// assert_eq!(lookalike("deploy", "deploy"), None);
/// assert_eq!(lookalike("depl0y", "deploy"), None);
/// ```
pub fn lookalike(word: &str, candidate: &str) -> Option<Lookalike> {
    let mut first = None;
    let mut candidate = candidate.chars();
    for found in word.chars() {
        let wanted = candidate.next()?;
        if same_letter(found, wanted) {
            continue;
        }
        let (plains, kind) = confusables::confusable(found)?;
        let plain = plains.chars().find(|p| same_letter(*p, wanted))?;
        first.get_or_insert(Lookalike { found, plain, kind });
    }
    match candidate.next() {
        None => first,
        Some(_) => None,
    }
}

/// `a` and `b` are the same letter, in any case.
fn same_letter(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_insertions_deletions_substitutions() {
        assert_eq!(edit_distance("deploy", "deploy"), 0);
        assert_eq!(edit_distance("depoly", "deploy"), 2);
        assert_eq!(edit_distance("deplo", "deploy"), 1);
        assert_eq!(edit_distance("DEPLOY", "deploy"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        // The ASCII path and the general one agree.
        assert_eq!(edit_distance("DÉPLOY", "déploy"), 0);
        assert_eq!(edit_distance("dé", "de"), 1);
        let long = "x".repeat(40);
        assert_eq!(edit_distance("x", &long), 39);
        assert_eq!(edit_distance(&long, "X"), 39);
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_path_agrees(a in "[a-zA-Z0-9-]{0,12}", b in "[a-zA-Z0-9-]{0,30}") {
            proptest::prop_assert_eq!(
                ascii_distance(a.as_bytes(), b.as_bytes()),
                char_distance(&a, &b)
            );
        }
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let verbs = ["deploy", "rollback", "status"];
        assert_eq!(did_you_mean("deplyo", verbs), Some("deploy"));
        assert_eq!(did_you_mean("stauts", verbs), Some("status"));
        assert_eq!(did_you_mean("rollbak", verbs), Some("rollback"));
        assert_eq!(did_you_mean("banana", verbs), None);
        assert_eq!(did_you_mean("", verbs), None);
        assert_eq!(did_you_mean("ap", ["app", "ui"]), Some("app"));
        assert_eq!(did_you_mean("x", ["ui"]), None);
    }
}

#[cfg(test)]
mod lookalike_tests {
    use super::*;

    fn found(word: &str, candidate: &str) -> Option<(char, char, &'static str)> {
        lookalike(word, candidate).map(|l| (l.found, l.plain, l.kind))
    }

    #[test]
    fn finds_the_first_lookalike() {
        assert_eq!(
            found("d\u{0435}ploy", "deploy"),
            Some(('\u{0435}', 'e', "Cyrillic"))
        );
        assert_eq!(
            found("r\u{03BF}llback", "rollback"),
            Some(('\u{03BF}', 'o', "Greek"))
        );
        assert_eq!(
            found("\u{0441}\u{0430}ncel", "cancel"),
            Some(('\u{0441}', 'c', "Cyrillic"))
        );
        assert_eq!(
            found("ＳＴＡＴＵＳ", "status"),
            Some(('Ｓ', 'S', "fullwidth"))
        );
        assert_eq!(found("𝐝𝐞𝐩𝐥𝐨𝐲", "deploy"), Some(('𝐝', 'd', "mathematical")));
        // Case is ignored around the look-alike.
        assert_eq!(
            found("D\u{0415}PLOY", "deploy"),
            Some(('\u{0415}', 'E', "Cyrillic"))
        );
        // Digits in service names.
        assert_eq!(
            found("api\u{FF12}", "api2"),
            Some(('\u{FF12}', '2', "fullwidth"))
        );
        assert_eq!(
            found("db\u{041E}", "db0"),
            Some(('\u{041E}', '0', "Cyrillic"))
        );
    }

    #[test]
    fn anything_else_is_not_a_lookalike() {
        assert_eq!(lookalike("deploy", "deploy"), None);
        assert_eq!(lookalike("DEPLOY", "deploy"), None);
        // A typo besides the look-alike, or a different length.
        assert_eq!(lookalike("d\u{0435}pl0y", "deploy"), None);
        assert_eq!(lookalike("d\u{0435}plo", "deploy"), None);
        assert_eq!(lookalike("d\u{0435}ployy", "deploy"), None);
        // A look-alike of another letter.
        assert_eq!(lookalike("\u{0435}eploy", "deploy"), None);
        assert_eq!(lookalike("", ""), None);
        assert_eq!(lookalike("caf\u{00E9}", "cafe"), None);
    }

    #[test]
    fn displays_kind_character_and_code_point() {
        let l = lookalike("app\u{1D7CE}", "app0").expect("look-alike");
        assert_eq!(l.to_string(), "mathematical \u{1D7CE}, U+1D7CE");
        assert_eq!(l.plain_kind(), "digits");
        let l = lookalike("\u{0430}pp", "app").expect("look-alike");
        assert_eq!(l.to_string(), "Cyrillic \u{0430}, U+0430");
        assert_eq!(l.plain_kind(), "letters");
    }
}
