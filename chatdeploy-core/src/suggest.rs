//! "Did you mean …?" by edit distance, shared by the parser and the catalog.

/// Levenshtein distance between two strings, compared case-insensitively by
/// `char`. Runs in O(len(a) · len(b)) with one row of memory.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
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
        .map(|c| (edit_distance(given, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
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
