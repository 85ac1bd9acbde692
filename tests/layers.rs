//! The layer order of `src/lib.rs`, checked: every `crate::x` a module names
//! must be one of the layers it may import, and no non-test file grows past
//! 600 lines. `cargo test --test layers -- --nocapture` prints the arrows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers of `src/lib.rs`, from the top down: a module may import those
/// after it, with two exceptions below.
const ORDER: &[&str] = &[
    "main",
    "cli",
    "server",
    "client",
    "http",
    "control",
    "egress",
    "recording",
    "hls",
    "compose",
    "ingest",
    "rtc",
    "media",
    "storage",
    "db",
    "auth",
    "ids",
    "inflight",
    "time",
];
/// The media group, which `control` stands beside (neither imports the other)
/// and `client` (beside `server`) reaches only at its bottom, `media`.
const MEDIA_ABOVE_MEDIA: &[&str] = &["egress", "recording", "hls", "compose", "ingest", "rtc"];

fn may_import(from: &str, to: &str) -> bool {
    let rank = |m: &str| ORDER.iter().position(|l| *l == m);
    let (Some(from_rank), Some(to_rank)) = (rank(from), rank(to)) else {
        return false;
    };
    let beside = matches!(from, "control" | "client")
        && (MEDIA_ABOVE_MEDIA.contains(&to) || matches!(to, "http" | "control"));
    to_rank > from_rank && !beside
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn top_module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("a first component");
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_string()
}

/// The modules a file names through `crate::`, outside its `#[cfg(test)]` tail
/// and outside comments.
fn crate_imports(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let head = item.trim().split("::").next().unwrap_or_default();
                    if !head.is_empty() {
                        names.insert(head.to_string());
                    }
                }
            } else {
                let head: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    names.insert(head);
                }
            }
        }
    }
    names
}

fn is_test_file(file: &Path) -> bool {
    file.file_stem().is_some_and(|s| s == "tests")
}

#[test]
fn no_module_imports_a_layer_above_it_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut arrows: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        if is_test_file(file) {
            continue;
        }
        let from = top_module(&src, file);
        let text = std::fs::read_to_string(file).expect("a source file");
        for to in crate_imports(&text) {
            if to == from || to == "self" {
                continue;
            }
            *arrows.entry((from.clone(), to.clone())).or_default() += 1;
            if !may_import(&from, &to) {
                wrong.push(format!("{} imports crate::{to}", file.display()));
            }
        }
    }
    for ((from, to), files) in &arrows {
        println!("{from} -> {to} ({files} files)");
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_outside_tests_is_over_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter(|f| !is_test_file(f))
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).expect("a source file");
            let lines = text.lines().count();
            (lines > 600).then(|| format!("{}: {lines} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over 600 lines:\n{}",
        long.join("\n")
    );
}
