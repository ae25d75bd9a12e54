//! `bridgectl envelope check FILE…`: validates outbound envelopes the way the sender does, so a
//! producer can test its messages in CI. The error printed is the one a dead-letter entry would
//! carry (`dead_letter_reason` and `dead_letter_detail`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use sinch_bridge::protocol::parse_outbound;
use sinch_bridge::send::{DeadLetterReason, Outcome};

use super::{CliError, Output, read_file};

#[derive(Subcommand, Debug)]
pub enum EnvelopeCommand {
    /// Check envelope files (one SQS message body each); exit 0 only when every one is valid.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files holding one outbound message body each.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// What the sender would do with one body, before any AWS or Sinch call.
fn verdict(body: &[u8]) -> Result<(), (DeadLetterReason, String)> {
    let error = match parse_outbound(body) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    match Outcome::from(&error) {
        Outcome::DeadLetter(dead) => Err((dead.reason, dead.detail)),
        _ => Err((DeadLetterReason::InvalidEnvelope, error.to_string())),
    }
}

pub fn run(cmd: EnvelopeCommand, out: Output) -> Result<(), CliError> {
    let EnvelopeCommand::Check(args) = cmd;
    let mut invalid = 0;
    for path in &args.files {
        let name = path.display().to_string();
        match verdict(&read_file(path)?) {
            Ok(()) => out.emit(&format!("{name}: ok"), &json!({"file": name, "valid": true})),
            Err((reason, detail)) => {
                invalid += 1;
                out.emit(
                    &format!("{name}: {reason}: {detail}"),
                    &json!({"file": name, "valid": false, "dead_letter_reason": reason.as_str(), "dead_letter_detail": detail}),
                );
            }
        }
    }
    if invalid > 0 {
        return Err(CliError::new(format!(
            "{invalid} of {} envelope(s) would be dead-lettered",
            args.files.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_bodies_get_the_sender_s_verdict() {
        let ok = br#"{"from":"01EB37HMH1M6SV18ASNS3G135H@sms.sinchconversation.com","to":"+15551234567","message":{"text_message":{"text":"hi"}}}"#;
        assert_eq!(verdict(ok), Ok(()));
        let typo = br#"{"from":"01EB37HMH1M6SV18ASNS3G135H@sms.sinchconversation.com","to":"+1","mesage":{}}"#;
        assert_eq!(
            verdict(typo),
            Err((
                DeadLetterReason::InvalidEnvelope,
                "mesage: is not an envelope field".into()
            ))
        );
        assert_eq!(
            verdict(b""),
            Err((DeadLetterReason::InvalidEnvelope, "(body): is empty".into()))
        );
    }
}
