//! Text helpers of the engine and the reports: bounded strings, name similarity.

/// Cuts a string to at most `max` bytes on a char boundary, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Levenshtein distance, bounded to short names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(253).collect();
    let b: Vec<char> = b.chars().take(253).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("payments", "payment"), 1);
        assert_eq!(edit_distance("web", "web"), 0);
        assert_eq!(edit_distance("checkout", "chekcout"), 2);
    }

    #[test]
    fn clip_cuts_on_a_char_boundary_and_marks_the_cut() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghij", 8), "abcde...");
        assert_eq!(clip("ééééé", 6), "é...");
    }
}
