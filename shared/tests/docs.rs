//! README names every reason code, retry cause and metric the code emits, and nothing else:
//! an operator reading a log line or a dead letter finds it explained there.

#![allow(clippy::panic)]

use std::collections::BTreeSet;

use sinch_bridge::ingest::IngestError;
use sinch_bridge::metrics::Metric;
use sinch_bridge::send::{DeadLetterReason, RetryCause};

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The backticked words of `text`.
fn code_spans(text: &str) -> BTreeSet<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The list in the paragraph that starts with `**{title}** (…):`, after that colon.
fn listed<'a>(readme: &'a str, title: &str) -> &'a str {
    let marker = format!("**{title}**");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker} paragraph"));
    let rest = &readme[start..];
    let paragraph = &rest[..rest.find("\n\n").unwrap_or(rest.len())];
    let colon = paragraph
        .find("):")
        .unwrap_or_else(|| panic!("{marker} has no list after a colon"));
    &paragraph[colon + 2..]
}

/// The first column of the table rows under the heading line containing `heading`, up to the
/// next blank line.
fn table_column<'a>(readme: &'a str, heading: &str, column: usize) -> Vec<&'a str> {
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    readme[start..]
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'))
        .skip(2)
        .filter_map(|row| row.split('|').nth(column + 1))
        .collect()
}

fn assert_same(what: &str, in_readme: BTreeSet<String>, in_code: BTreeSet<String>) {
    let missing: Vec<_> = in_code.difference(&in_readme).collect();
    let stale: Vec<_> = in_readme.difference(&in_code).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "{what}: in code but not in README {missing:?}; in README but not in code {stale:?}"
    );
}

#[test]
fn readme_lists_exactly_the_retry_causes_and_dead_letter_reasons() {
    let readme = readme();
    assert_same(
        "retry causes",
        code_spans(listed(&readme, "Retry causes")),
        RetryCause::ALL.iter().map(|c| c.as_str().to_owned()).collect(),
    );
    assert_same(
        "dead-letter reasons",
        code_spans(listed(&readme, "Dead-letter reasons")),
        DeadLetterReason::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
    );
}

#[test]
fn readme_answers_table_has_every_code_sinch_can_see() {
    let readme = readme();
    let in_table: BTreeSet<String> = table_column(&readme, "**What Sinch sees.**", 1)
        .into_iter()
        .flat_map(code_spans)
        .filter(|c| !c.starts_with('{'))
        .collect();
    let codes: BTreeSet<String> = IngestError::every().iter().map(|e| e.code().to_owned()).collect();
    assert_same("webhook answer codes", in_table, codes);
    // The precise reasons (logs, the Reason of WebhookRejected) are named somewhere too.
    let spans = code_spans(&readme);
    for e in IngestError::every() {
        assert!(
            spans.contains(e.reason()),
            "README never names the reason {}",
            e.reason()
        );
    }
}

#[test]
fn readme_metrics_table_is_the_metric_list() {
    let readme = readme();
    let in_table: BTreeSet<String> = table_column(&readme, "- **Metrics** (CloudWatch", 0)
        .into_iter()
        .flat_map(code_spans)
        .collect();
    assert_same(
        "metrics",
        in_table,
        Metric::ALL.iter().map(|m| m.name().to_owned()).collect(),
    );
}
