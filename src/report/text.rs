//! Small text helpers shared by the renderers.

/// Wraps `text` at word boundaries so that every line, indent included, fits in
/// `width` columns where it can. The first line starts with `first`, the others
/// with `rest`. A word longer than a line (a URL, an image reference) is kept whole.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prefix = first;
    for para in text.lines() {
        let mut line = String::from(prefix);
        let mut empty = true;
        for word in para.split_whitespace() {
            let wlen = word.chars().count();
            if !empty && line.chars().count() + 1 + wlen > width {
                out.push(std::mem::take(&mut line));
                prefix = rest;
                line.push_str(prefix);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push(line);
        prefix = rest;
    }
    if out.is_empty() {
        out.push(first.trim_end().to_owned());
    }
    out
}

/// The terminal width to wrap at: `COLUMNS` when set, else 100; kept within 60..=200.
pub fn width_from_env() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(60, 200)
}

/// Escapes a Markdown table cell: pipes, and newlines as `<br>`.
pub fn md_cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

/// Inline code for Markdown, choosing a fence longer than any backtick run inside.
pub fn md_code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// A fenced code block whose fence no line of `text` can close.
pub fn md_block(lang: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}{lang}\n{text}\n{fence}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_words_with_indents() {
        let lines = wrap("one two three four five six", 14, "- ", "  ");
        assert_eq!(lines, ["- one two", "  three four", "  five six"]);
        for line in &lines {
            assert!(line.chars().count() <= 14, "{line}");
        }
        let long = wrap("a averyveryverylongword b", 10, "", "");
        assert_eq!(long, ["a", "averyveryverylongword", "b"]);
        assert_eq!(wrap("", 10, "  x ", "    "), ["  x"]);
    }

    #[test]
    fn markdown_escapes() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b<br>c");
        assert_eq!(md_code("kubectl get po"), "`kubectl get po`");
        assert_eq!(md_code("a `b` c"), "``a `b` c``");
        assert!(md_block("sh", "x ``` y").starts_with("````sh\n"));
    }
}
