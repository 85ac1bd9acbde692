//! `Content-Disposition: attachment` for files people download (the
//! attendance CSV, recordings), named after what they hold.

/// Downloads as `file_name`: an ASCII `filename` every browser reads, and
/// the exact name as `filename*` (RFC 6266, RFC 5987 encoding).
pub fn attachment(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' | '-' | '_' | '.' | '(' | ')' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(file_name.len());
    for b in file_name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(b))
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_survive_as_ascii_and_exactly() {
        assert_eq!(
            attachment("Algebra I-attendance.csv"),
            "attachment; filename=\"Algebra I-attendance.csv\"; \
             filename*=UTF-8''Algebra%20I-attendance.csv"
        );
        let tricky = attachment("Maths \"B\"/Zoë\r\n.csv");
        assert!(
            tricky.starts_with("attachment; filename=\"Maths _B__Zo___.csv\"; "),
            "{tricky}"
        );
        assert!(
            tricky.ends_with("filename*=UTF-8''Maths%20%22B%22%2FZo%C3%AB%0D%0A.csv"),
            "{tricky}"
        );
        assert!(!tricky.contains(['\r', '\n']));
    }
}
