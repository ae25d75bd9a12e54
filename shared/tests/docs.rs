//! `docs/reference.md` names every reason code, retry cause and metric the code emits, and
//! nothing else: an operator reading a log line or a dead letter finds it explained there.

#![allow(clippy::panic)]

use std::collections::BTreeSet;

use sinch_bridge::ingest::IngestError;
use sinch_bridge::metrics::Metric;
use sinch_bridge::send::{DeadLetterReason, RetryCause};

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The backticked words of `text`.
fn code_spans(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The list in the paragraph that starts with `**{title}** (…):`, after that colon.
fn listed<'a>(doc: &'a str, title: &str) -> &'a str {
    let marker = format!("**{title}**");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/reference.md has no {marker} paragraph"));
    let rest = &doc[start..];
    let paragraph = &rest[..rest.find("\n\n").unwrap_or(rest.len())];
    let colon = paragraph
        .find("):")
        .unwrap_or_else(|| panic!("{marker} has no list after a colon"));
    &paragraph[colon + 2..]
}

/// The first column of the table rows under the heading line containing `heading`, up to the
/// next blank line.
fn table_column<'a>(doc: &'a str, heading: &str, column: usize) -> Vec<&'a str> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("docs/reference.md has no {heading:?}"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2)
        .filter_map(|row| row.split('|').nth(column + 1))
        .collect()
}

fn assert_same(what: &str, in_doc: BTreeSet<String>, in_code: BTreeSet<String>) {
    let missing: Vec<_> = in_code.difference(&in_doc).collect();
    let stale: Vec<_> = in_doc.difference(&in_code).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{what}: in code but not in the reference {missing:?}; in the reference but not in code {stale:?}"
    );
}

#[test]
fn reference_lists_exactly_the_retry_causes_and_dead_letter_reasons() {
    let doc = reference();
    assert_same(
        "retry causes",
        code_spans(listed(&doc, "Retry causes")),
        RetryCause::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
    );
    assert_same(
        "dead-letter reasons",
        code_spans(listed(&doc, "Dead-letter reasons")),
        DeadLetterReason::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
    );
}

#[test]
fn reference_lists_exactly_the_rotation_failure_codes() {
    let doc = reference();
    assert_same(
        "rotation failure codes",
        code_spans(listed(&doc, "Rotation failure codes")),
        sinch_bridge::setup::rotation::RotationFailure::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
    );
}

#[test]
fn reference_answers_table_has_every_code_sinch_can_see() {
    let doc = reference();
    let in_table: BTreeSet<String> = table_column(&doc, "### What Sinch sees", 1)
        .into_iter()
        .flat_map(code_spans)
        .filter(|c| !c.starts_with('{'))
        .collect();
    let codes: BTreeSet<String> = IngestError::every().iter().map(|e| e.code().to_owned()).collect();
    assert_same("webhook answer codes", in_table, codes);
    // The precise reasons (logs, the Reason of WebhookRejected) are named somewhere too.
    let spans = code_spans(&doc);
    for e in IngestError::every() {
        assert!(
            spans.contains(e.reason()),
            "docs/reference.md never names the reason {}",
            e.reason()
        );
    }
}

#[test]
fn reference_metrics_table_is_the_metric_list() {
    let doc = reference();
    let in_table: BTreeSet<String> = table_column(&doc, "**Metrics** (CloudWatch", 0)
        .into_iter()
        .flat_map(code_spans)
        .collect();
    assert_same(
        "metrics",
        in_table,
        Metric::ALL.iter().map(|m| m.name().to_owned()).collect(),
    );
}

#[test]
fn reference_settings_tables_are_the_declarations() {
    let doc = reference();
    for function in &sinch_bridge::config::FUNCTIONS {
        let open = format!("<!-- settings:{} -->\n", function.function);
        let start = doc
            .find(&open)
            .unwrap_or_else(|| panic!("docs/reference.md has no {open:?} block"))
            + open.len();
        let end = start
            + doc[start..]
                .find("<!-- /settings -->")
                .unwrap_or_else(|| panic!("{open:?} is not closed"));
        let rendered = sinch_bridge::config::reference_table(function);
        assert_eq!(
            &doc[start..end],
            rendered,
            "docs/reference.md's {} settings differ from the declarations; paste `bridgectl settings --function {}`",
            function.function,
            function.function
        );
    }
}

/// Every document a reader is pointed at.
const DOCUMENTS: [&str; 8] = [
    "README.md",
    "ARCHITECTURE.md",
    "CONTRIBUTING.md",
    "RELIABILITY.md",
    "BENCHMARKS.md",
    "docs/reference.md",
    "docs/operations.md",
    "schemas/README.md",
];

/// The repository paths a document names: its relative links, and backticked spans that start
/// with one of the repository's top-level folders.
fn named_paths(text: &str) -> Vec<String> {
    const TOP: [&str; 11] = [
        "shared/",
        "tools/",
        "tests/",
        "functions/",
        "scripts/",
        "infra/",
        "schemas/",
        "examples/",
        "fuzz/",
        "docs/",
        ".ci/",
    ];
    let mut out: Vec<String> = text
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|link| !link.starts_with("http") && !link.starts_with('#') && !link.starts_with("mailto:"))
        .map(|link| link.split('#').next().unwrap_or_default().to_owned())
        .filter(|link| !link.is_empty())
        .collect();
    out.extend(
        code_spans(text)
            .into_iter()
            .filter(|span| TOP.iter().any(|top| span.starts_with(top)))
            .filter(|span| !span.contains(|c: char| c.is_whitespace() || "*{}<>…|$".contains(c)))
            .map(|span| format!("/{span}")),
    );
    out
}

#[test]
fn documents_name_only_files_that_exist() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut missing = Vec::new();
    for doc in DOCUMENTS {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
        let dir = path.parent().unwrap_or(root);
        for named in named_paths(&text) {
            // A backticked path is from the repository's root; a link, from the document's folder.
            let target = match named.strip_prefix('/') {
                Some(from_root) => root.join(from_root.split(':').next().unwrap_or(from_root)),
                None => dir.join(&named),
            };
            if !target.exists() {
                missing.push(format!("{doc}: {named}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documents name paths that do not exist: {missing:#?}"
    );
}

#[test]
fn the_readme_stays_a_newcomers_page() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let lines = std::fs::read_to_string(path).unwrap_or_default().lines().count();
    assert!(
        (50..=250).contains(&lines),
        "README.md has {lines} lines: reference and runbooks belong in docs/"
    );
}

/// Every `Setting` declared anywhere in `shared/src` is one some function reads: a declaration
/// parsed but left out of its module's list would be read by the function yet missing from
/// the reference tables, the template check and the emulator-stack check (the compiler cannot
/// see it: a `pub const` is never "unused").
#[test]
fn every_declared_setting_is_listed_for_a_function() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    let listed: BTreeSet<&str> = sinch_bridge::config::FUNCTIONS
        .iter()
        .flat_map(|f| f.settings().map(|s| s.name))
        .collect();
    let mut declared = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.contains(": Setting = Setting {") {
                let name = lines
                    .next()
                    .and_then(|l| l.trim().strip_prefix("name: \""))
                    .and_then(|l| l.strip_suffix("\","))
                    .unwrap_or_else(|| panic!("{}: a Setting whose next line is not its name", file.display()));
                declared.insert(name.to_owned());
            }
        }
    }
    assert!(declared.len() > 20, "found the declarations: {declared:?}");
    let unlisted: Vec<&String> = declared.iter().filter(|n| !listed.contains(n.as_str())).collect();
    assert!(
        unlisted.is_empty(),
        "declared but in no function's settings (add them to their module's list): {unlisted:?}"
    );
}
