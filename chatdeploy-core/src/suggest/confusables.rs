//! A small table of characters that look like plain Latin letters and
//! digits: the Cyrillic, Greek and Armenian homoglyphs keyboards and
//! autocorrect actually produce, fullwidth forms (East Asian input methods)
//! and the mathematical alphanumerics "fancy text" generators paste.
//! Unicode's full confusables list is thousands of entries; these are the
//! ones a person plausibly types by accident.

/// The plain characters `c` passes for (ASCII, in the case it looks like),
/// and what kind of character it is, for the error sentence. `None` for
/// plain characters and for characters that look like nothing plain.
pub(super) fn confusable(c: char) -> Option<(&'static str, &'static str)> {
    if c.is_ascii() {
        return None;
    }
    if let Some(entry) = by_range(c) {
        return Some(entry);
    }
    let plain = match c {
        // Cyrillic.
        'а' => "a",
        'е' => "e",
        'о' => "o",
        'р' => "p",
        'с' => "c",
        'у' => "y",
        'х' => "x",
        'ѕ' => "s",
        'і' => "i",
        'ј' => "j",
        'ԁ' => "d",
        'һ' => "h",
        'ԛ' => "q",
        'ԝ' => "w",
        'ӏ' => "l",
        'А' => "A",
        'В' => "B",
        'Е' => "E",
        'З' => "3",
        'К' => "K",
        'М' => "M",
        'Н' => "H",
        'О' => "O0",
        'Р' => "P",
        'С' => "C",
        'Т' => "T",
        'У' | 'Ү' => "Y",
        'Х' => "X",
        'Ѕ' => "S",
        'І' => "I",
        'Ј' => "J",
        'Ԛ' => "Q",
        'Ԝ' => "W",
        'Ӏ' => "Il",
        _ => return greek_or_other(c),
    };
    Some((plain, "Cyrillic"))
}

fn greek_or_other(c: char) -> Option<(&'static str, &'static str)> {
    let plain = match c {
        'α' => "a",
        'ο' => "o",
        'ν' => "v",
        'ι' => "i",
        'κ' => "k",
        'ρ' => "p",
        'υ' => "u",
        'ϲ' => "c",
        'ϳ' => "j",
        'Α' => "A",
        'Β' => "B",
        'Ε' => "E",
        'Ζ' => "Z",
        'Η' => "H",
        'Ι' => "I",
        'Κ' => "K",
        'Μ' => "M",
        'Ν' => "N",
        'Ο' => "O0",
        'Ρ' => "P",
        'Τ' => "T",
        'Υ' => "Y",
        'Χ' => "X",
        'Ϲ' => "C",
        _ => return other(c),
    };
    Some((plain, "Greek"))
}

fn other(c: char) -> Option<(&'static str, &'static str)> {
    Some(match c {
        'օ' => ("o", "Armenian"),
        'ս' => ("u", "Armenian"),
        'հ' => ("h", "Armenian"),
        'ո' => ("n", "Armenian"),
        'ı' => ("i", "dotless"),
        'ɑ' => ("a", "Latin alpha"),
        'ɡ' => ("g", "script"),
        _ => return None,
    })
}

/// The ASCII letters and digits as `&'static str`s, to answer from ranges.
const LETTERS_AND_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Fullwidth forms and mathematical alphanumerics: whole alphabets at fixed
/// offsets.
fn by_range(c: char) -> Option<(&'static str, &'static str)> {
    let code = u32::from(c);
    let (index, kind) = match code {
        0xFF21..=0xFF3A => (code - 0xFF21, "fullwidth"),
        0xFF41..=0xFF5A => (code - 0xFF41 + 26, "fullwidth"),
        0xFF10..=0xFF19 => (code - 0xFF10 + 52, "fullwidth"),
        // Thirteen styles (bold, italic, script, …) of A–Z then a–z.
        0x1D400..=0x1D6A3 => ((code - 0x1D400) % 52, "mathematical"),
        // Five styles of 0–9.
        0x1D7CE..=0x1D7FF => ((code - 0x1D7CE) % 10 + 52, "mathematical"),
        _ => return None,
    };
    let index = usize::try_from(index).ok()?;
    Some((LETTERS_AND_DIGITS.get(index..=index)?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_characters_are_not_confusable() {
        for c in ['a', 'Z', '0', '-', ' ', 'é', 'ß', 'ж', 'λ', '😀'] {
            assert_eq!(confusable(c), None, "{c}");
        }
    }

    #[test]
    fn table_entries() {
        assert_eq!(confusable('е'), Some(("e", "Cyrillic")));
        assert_eq!(confusable('О'), Some(("O0", "Cyrillic")));
        assert_eq!(confusable('ο'), Some(("o", "Greek")));
        assert_eq!(confusable('Τ'), Some(("T", "Greek")));
        assert_eq!(confusable('օ'), Some(("o", "Armenian")));
        assert_eq!(confusable('ı'), Some(("i", "dotless")));
    }

    #[test]
    fn ranges() {
        assert_eq!(confusable('Ａ'), Some(("A", "fullwidth")));
        assert_eq!(confusable('ｚ'), Some(("z", "fullwidth")));
        assert_eq!(confusable('０'), Some(("0", "fullwidth")));
        assert_eq!(confusable('９'), Some(("9", "fullwidth")));
        assert_eq!(confusable('𝐝'), Some(("d", "mathematical")));
        assert_eq!(confusable('𝙳'), Some(("D", "mathematical")));
        assert_eq!(confusable('𝟎'), Some(("0", "mathematical")));
        assert_eq!(confusable('𝟿'), Some(("9", "mathematical")));
    }

    #[test]
    fn every_entry_stands_for_ascii_letters_or_digits() {
        let table = (0x80..=0x1FFFF).filter_map(char::from_u32);
        for c in table {
            if let Some((plain, kind)) = confusable(c) {
                assert!(!plain.is_empty() && !kind.is_empty(), "{c}");
                assert!(plain.bytes().all(|b| b.is_ascii_alphanumeric()), "{c}");
            }
        }
    }
}
