//! Conversation API channel names and the Contact Pro subchannel names that map onto them.
//!
//! Channels are an open set: Sinch sends and accepts values outside its published enum
//! (`VIBER`, `SINCH_CHAT`), so a channel is a validated string, never a closed enum.

use std::fmt;

/// A Conversation API channel name (`WHATSAPP`, `SMS`, ...), upper-case ASCII, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(String);

pub const SMS: &str = "SMS";

/// Contact Pro subchannel (queue address domain label) -> Conversation API channel.
/// Source: Contact Pro's messaging-service documentation (the subchannel labels) and the
/// Conversation API's `ConversationChannel` enum.
pub const SUBCHANNELS: [(&str, &str); 10] = [
    ("whatsapp", "WHATSAPP"),
    ("facebook", "MESSENGER"),
    ("instagram", "INSTAGRAM"),
    ("telegram", "TELEGRAM"),
    ("line", "LINE"),
    ("rcs", "RCS"),
    ("sms", "SMS"),
    ("viber-bot", "VIBER"),
    ("viber", "VIBERBM"),
    ("nativechannel", "SINCH_CHAT"),
];

impl Channel {
    /// Accepts any plausible channel name; names are compared exactly as Sinch spells them.
    pub fn parse(name: &str) -> Option<Self> {
        let valid = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        valid.then(|| Self(name.to_owned()))
    }

    pub fn from_subchannel(subchannel: &str) -> Option<Self> {
        SUBCHANNELS
            .iter()
            .find(|(sub, _)| *sub == subchannel)
            .map(|(_, channel)| Self((*channel).to_owned()))
    }

    pub fn subchannel(&self) -> Option<&'static str> {
        SUBCHANNELS
            .iter()
            .find(|(_, channel)| *channel == self.0)
            .map(|(sub, _)| *sub)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_sms(&self) -> bool {
        self.0 == SMS
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_all_ten_subchannels_both_ways() {
        for (sub, api) in SUBCHANNELS {
            let channel = Channel::from_subchannel(sub);
            assert_eq!(channel.as_ref().map(Channel::as_str), Some(api));
            assert_eq!(channel.and_then(|c| c.subchannel()), Some(sub));
        }
        assert_eq!(Channel::from_subchannel("WhatsApp"), None);
        assert_eq!(Channel::from_subchannel("email"), None);
    }

    #[test]
    fn unknown_channels_pass_through() {
        assert_eq!(
            Channel::parse("KAKAOTALKCHAT").map(|c| c.to_string()),
            Some("KAKAOTALKCHAT".into())
        );
        assert_eq!(Channel::parse("APPLEBC").and_then(|c| c.subchannel()), None);
    }

    #[test]
    fn rejects_names_that_are_not_channel_shaped() {
        for bad in ["", "sms", "SMS ", "WHATS-APP", &"A".repeat(33)] {
            assert_eq!(Channel::parse(bad), None, "{bad:?}");
        }
    }
}
