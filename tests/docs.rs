//! The user documentation holds together: README.md stays short and says how to start, and
//! every relative link in README.md and docs/*.md points at a file that exists and, with a
//! `#fragment`, at a heading in it (GitHub's anchor rules). External links are not fetched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    if let Ok(entries) = std::fs::read_dir(root().join("docs")) {
        let mut docs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
    }
    pages
}

/// Text outside fenced code blocks (links in examples are not links).
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens.
fn slug(heading: &str) -> String {
    let text = heading.replace('`', "");
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (`foo`, then `foo-1` for a repeat).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text).lines() {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(heading);
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of `[text](target)` links, without a title.
fn links(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\]\(([^)\s]+)(?:\s+[^)]*)?\)").unwrap();
    let prose = prose(text);
    // Inline code spans are not links either.
    let code = regex::Regex::new(r"`[^`]*`").unwrap();
    let prose = code.replace_all(&prose, "");
    re.captures_iter(&prose).map(|c| c[1].to_string()).collect()
}

/// Pages other engineers write on their own branches. Until the lead merges them (and
/// deletes docs/handover-from-old-readme.md, which holds the old README's text for them),
/// a link to one of these that does not exist yet is tolerated; afterwards it is broken.
const WRITTEN_ON_OTHER_BRANCHES: [&str; 5] = [
    "sources.md",
    "delivery.md",
    "service.md",
    "security.md",
    "messages.md",
];

fn is_pending_merge(file: &Path) -> bool {
    root().join("docs/handover-from-old-readme.md").exists()
        && file.parent() == Some(root().join("docs").as_path())
        && file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| WRITTEN_ON_OTHER_BRANCHES.contains(&n))
}

fn broken_links_of(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut broken = Vec::new();
    for target in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = match target.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (target.as_str(), None),
        };
        let file_path = if file.is_empty() {
            page.to_path_buf()
        } else {
            page.parent().unwrap().join(file)
        };
        let file_path = std::path::absolute(&file_path).unwrap();
        let file_path = normalize(&file_path);
        if !file_path.exists() && is_pending_merge(&file_path) {
            continue;
        }
        if !file_path.exists() {
            broken.push(format!("{target} (no such file)"));
            continue;
        }
        let is_md = file_path.extension().is_some_and(|x| x == "md");
        if let (Some(fragment), true) = (fragment, is_md) {
            let target_text = std::fs::read_to_string(&file_path).unwrap();
            if !anchors(&target_text).contains(fragment) {
                broken.push(format!("{target} (no heading #{fragment})"));
            }
        }
    }
    broken
}

/// `a/docs/../README.md` → `a/README.md` (without touching the disk).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        for link in broken_links_of(&page) {
            broken.push(format!(
                "{}: {link}",
                page.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "broken links:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_readme_is_short_and_says_how_to_install_test_and_set_up() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        text.len() < 10 * 1024,
        "README.md is {} bytes; keep it under 10 KB and move detail to docs/",
        text.len()
    );
    for needle in [
        "cargo install --locked --path .",
        "scripts/test.sh",
        "examples/demo/kbot.toml send-now lunch --date 2023-04-10 --dry-run",
        "kbot config init",
        "kbot scrape --explain",
        "kbot login",
        "kbot send-now --to me",
        "kbot service install",
        "kbot doctor",
    ] {
        assert!(
            text.contains(needle),
            "README.md does not mention {needle:?}"
        );
    }
}

#[test]
fn anchors_follow_github_rules() {
    assert_eq!(slug(" Exit codes"), "exit-codes");
    assert_eq!(slug(" `kbot doctor` says ✗"), "kbot-doctor-says-");
    assert_eq!(slug(" KOE006 / KOE101"), "koe006--koe101");
    let text = "# A\n## A\n```\n# not a heading\n```\n";
    assert_eq!(
        anchors(text),
        BTreeSet::from(["a".to_string(), "a-1".to_string()])
    );
    assert_eq!(
        links("see [x](docs/a.md#b) and `[y](z.md)`\n"),
        ["docs/a.md#b"]
    );
}

/// The keys `kbot config init` writes (config.example.toml), commented-out ones included:
/// `key = …` at the start of a line, or after `or` in a comment (`# or body = …`).
fn example_keys() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("config.example.toml")).expect("example");
    let key = |s: &str| -> Option<String> {
        let name: String = s
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        (!name.is_empty() && s[name.len()..].starts_with(" = ")).then_some(name)
    };
    let mut keys = BTreeSet::new();
    for line in text.lines() {
        let bare = line.trim_start().trim_start_matches('#').trim_start();
        keys.extend(key(bare));
        for (at, _) in line.match_indices(" or ") {
            keys.extend(key(&line[at + 4..]));
        }
    }
    keys
}

/// The key names in the first column of docs/config.md's key table.
fn documented_keys() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("docs/config.md")).expect("docs/config.md");
    let mut keys = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for word in first.split(|c: char| !(c.is_ascii_lowercase() || c == '_')) {
            if !word.is_empty() {
                keys.insert(word.to_string());
            }
        }
    }
    keys
}

#[test]
fn every_key_config_init_writes_is_in_the_key_reference() {
    let keys = example_keys();
    for expected in [
        "max_parts",
        "noise",
        "favorites",
        "recheck",
        "undated",
        "filter",
    ] {
        assert!(
            keys.contains(expected),
            "the example has {expected}: {keys:?}"
        );
    }
    let documented = documented_keys();
    let missing: Vec<&String> = keys.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/config.md's key table lacks {missing:?}"
    );
}

/// Words that speak of how kbot was made rather than to its users: an issue number, a path
/// of the machine it was built on, a Rust item path (`module::function`).
fn insider_words(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lower = line.to_lowercase();
    for (at, _) in lower.match_indices("issue") {
        let rest = lower[at + 5..].trim_start_matches([' ', '#']);
        if rest.starts_with(|c: char| c.is_ascii_digit()) {
            found.push(line[at..].chars().take(12).collect());
        }
    }
    for path in ["/work/", "/root/", "/tmp/h"] {
        if line.contains(path) {
            found.push(path.to_string());
        }
    }
    for (at, _) in line.match_indices("::") {
        let before = line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let after = line[at + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_');
        if before && after && line[..at].contains('`') {
            found.push(line[..at].rsplit('`').next().unwrap_or("").to_string());
        }
    }
    found
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_manual_and_doc_comments_name_no_issue_numbers_machine_paths_or_internal_items() {
    let mut found = Vec::new();
    // docs/design.md is the maintainers' map of the code: it names modules and items.
    for page in pages().iter().filter(|p| !p.ends_with("design.md")) {
        let text = std::fs::read_to_string(page).expect("page");
        for (n, line) in text.lines().enumerate() {
            for word in insider_words(line) {
                found.push(format!("{}:{}: {word}", page.display(), n + 1));
            }
        }
    }
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file).expect("source");
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if !(trimmed.starts_with("///") || trimmed.starts_with("//!")) {
                continue;
            }
            // Doc comments may link items (`[`crate::x`]`); only issue numbers and paths count.
            for word in insider_words(line).into_iter().filter(|w| !w.is_empty()) {
                if word.starts_with('/') || word.to_lowercase().starts_with("issue") {
                    found.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "insider words:\n{}", found.join("\n"));
    assert_eq!(insider_words("see issue 12"), ["issue 12"]);
    assert_eq!(insider_words("at `/work/x`"), ["/work/"]);
    assert_eq!(insider_words("`auth::scrub` does it"), ["auth"]);
    assert!(insider_words("`kbot scrape lunch` and cargo test --lib noise::").is_empty());
}
