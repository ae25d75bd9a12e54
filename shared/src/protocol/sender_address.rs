//! Contact Pro queue addresses: `[APP_ID]@[subchannel].sinchconversation.com`.

use std::fmt;
use std::str::FromStr;

use super::channel::{Channel, SUBCHANNELS};

pub const DOMAIN: &str = "sinchconversation.com";

/// A parsed queue address: which Conversation API app sends, on which channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderAddress {
    pub app_id: String,
    pub channel: Channel,
}

/// What is wrong with an address; the message names the part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("queue address must look like APP_ID@SUBCHANNEL.sinchconversation.com (no '@' found)")]
    MissingAt,
    #[error("queue address has an empty app id before '@'")]
    EmptyAppId,
    #[error("queue address app id may only hold letters and digits")]
    BadAppId,
    #[error("queue address domain must end in .sinchconversation.com")]
    BadDomain,
    #[error("queue address subchannel {0:?} is not one of: {known}", known = known_subchannels())]
    UnknownSubchannel(String),
}

fn known_subchannels() -> String {
    SUBCHANNELS.iter().map(|(s, _)| *s).collect::<Vec<_>>().join(", ")
}

impl FromStr for SenderAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (app_id, domain) = s.split_once('@').ok_or(AddressError::MissingAt)?;
        if app_id.is_empty() {
            return Err(AddressError::EmptyAppId);
        }
        // Sinch app ids are ULIDs; we only insist they are alphanumeric so nothing odd reaches
        // a URL or a log, and leave the exact shape to the API.
        if app_id.len() > 64 || !app_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(AddressError::BadAppId);
        }
        let domain = domain.to_ascii_lowercase();
        let subchannel = domain
            .strip_suffix(DOMAIN)
            .and_then(|rest| rest.strip_suffix('.'))
            .ok_or(AddressError::BadDomain)?;
        let channel = Channel::from_subchannel(subchannel)
            .ok_or_else(|| AddressError::UnknownSubchannel(subchannel.to_owned()))?;
        Ok(Self {
            app_id: app_id.to_owned(),
            channel,
        })
    }
}

impl fmt::Display for SenderAddress {
    /// Formats back to the Contact Pro form; channels without a subchannel use their API name
    /// lower-cased so the output still parses as an address shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sub = self
            .channel
            .subchannel()
            .map(str::to_owned)
            .unwrap_or_else(|| self.channel.as_str().to_ascii_lowercase());
        write!(f, "{}@{}.{}", self.app_id, sub, DOMAIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const APP: &str = "01EB37HMH1M6SV18ASNS3G135H";

    #[test]
    fn parses_every_subchannel_and_formats_back() {
        for (sub, api) in SUBCHANNELS {
            let text = format!("{APP}@{sub}.sinchconversation.com");
            let addr: SenderAddress = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(addr.app_id, APP);
            assert_eq!(addr.channel.as_str(), api);
            assert_eq!(addr.to_string(), text);
        }
    }

    #[test]
    fn domain_is_case_insensitive() {
        let addr: Result<SenderAddress, _> = format!("{APP}@WhatsApp.SinchConversation.com").parse();
        assert_eq!(addr.map(|a| a.channel.to_string()), Ok("WHATSAPP".into()));
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            ("no-at-sign", AddressError::MissingAt),
            ("@sms.sinchconversation.com", AddressError::EmptyAppId),
            ("01E/..@sms.sinchconversation.com", AddressError::BadAppId),
            ("01E@sms.example.com", AddressError::BadDomain),
            ("01E@sinchconversation.com", AddressError::BadDomain),
            ("01E@xsinchconversation.com", AddressError::BadDomain),
            (
                "01E@email.sinchconversation.com",
                AddressError::UnknownSubchannel("email".into()),
            ),
            (
                "01E@.sinchconversation.com",
                AddressError::UnknownSubchannel(String::new()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<SenderAddress>(), Err(expected.clone()), "{text}");
        }
        let msg = "01E@email.sinchconversation.com"
            .parse::<SenderAddress>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("\"email\"") && msg.contains("viber-bot"), "{msg}");
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,80}") {
            let _ = s.parse::<SenderAddress>();
        }
    }
}
