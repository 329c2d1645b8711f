//! The documentation's links: every relative link in the README, `ARCHITECTURE.md`,
//! `CHANGELOG.md`, `weights/README.md` and the guides in `docs/` names a file of the repository,
//! and every `#anchor` a heading of the file it points into (GitHub's rule for heading
//! anchors). Links to the web are not followed. Code blocks are skipped: their brackets are
//! commands, not links.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The Markdown files a reader follows links through.
fn documents() -> Vec<PathBuf> {
    let root = repo();
    let mut docs: Vec<PathBuf> = [
        "README.md",
        "ARCHITECTURE.md",
        "CHANGELOG.md",
        "weights/README.md",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ is readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    docs.extend(guides);
    docs
}

/// The lines outside fenced code blocks, with their line numbers (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .map(|(i, line)| (i + 1, line))
        .collect()
}

/// GitHub's anchor of a heading: lower case; letters, digits, `-` and `_` kept, spaces made
/// `-`, everything else (backticks, punctuation) dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let hashes = line.len() - line.trim_start_matches('#').len();
            (hashes > 0 && line[hashes..].starts_with(' ')).then(|| anchor(&line[hashes..]))
        })
        .collect()
}

/// The targets of `[text](target)` and `![alt](target)` on a line.
fn targets(line: &str) -> Vec<&str> {
    line.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &line[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn anchors_follow_githubs_rule() {
    assert_eq!(anchor("GPU (CUDA)"), "gpu-cuda");
    assert_eq!(
        anchor("Artist-grouped 5-fold on gtzan-mini + gtzan-more"),
        "artist-grouped-5-fold-on-gtzan-mini--gtzan-more"
    );
    assert_eq!(anchor("`classify` on a library"), "classify-on-a-library");
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = repo();
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("document is readable");
        let name = doc
            .strip_prefix(&root)
            .unwrap_or(&doc)
            .display()
            .to_string();
        for (n, line) in prose(&text) {
            for target in targets(line) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let file = if path.is_empty() {
                    doc.clone()
                } else {
                    doc.parent().expect("a document is in a folder").join(path)
                };
                if !file.exists() {
                    broken.push(format!("{name}:{n}: no file {target}"));
                } else if !fragment.is_empty() {
                    let text = std::fs::read_to_string(&file).unwrap_or_default();
                    if !anchors(&text).contains(fragment) {
                        broken.push(format!("{name}:{n}: no heading #{fragment} in {path}"));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links found: is the link pattern still right?"
    );
    assert!(
        broken.is_empty(),
        "{} broken links:\n{}",
        broken.len(),
        broken.join("\n")
    );
}
