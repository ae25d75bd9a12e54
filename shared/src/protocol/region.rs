//! Conversation API regions and the URLs that follow from them.

use std::fmt;
use std::str::FromStr;

/// A Conversation API region. The app's region must match, or Sinch answers 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    Eu,
    Us,
    Br,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("region must be one of eu, us, br")]
pub struct UnknownRegion;

impl Region {
    pub const ALL: [Region; 3] = [Region::Eu, Region::Us, Region::Br];

    pub fn as_str(&self) -> &'static str {
        match self {
            Region::Eu => "eu",
            Region::Us => "us",
            Region::Br => "br",
        }
    }

    /// `https://{region}.conversation.api.sinch.com` (OpenAPI `servers`).
    pub fn base_url(&self) -> String {
        format!("https://{}{HOST_SUFFIX}", self.as_str())
    }
}

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eu" => Ok(Region::Eu),
            "us" => Ok(Region::Us),
            "br" => Ok(Region::Br),
            _ => Err(UnknownRegion),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every region's host is `{region}` followed by this.
const HOST_SUFFIX: &str = ".conversation.api.sinch.com";

/// Where `messages:send` lives for a project. `base_override` (tests, local runs) replaces the
/// regional host; the region then travels in the path prefix so one mock can serve all regions:
/// `{override}/{region}/v1/projects/{project}/messages:send`.
pub fn send_url(region: Region, base_override: Option<&str>, project_id: &str) -> String {
    // Built by appending rather than `format!`: this runs on every send.
    let mut url = String::with_capacity(96 + project_id.len());
    match base_override {
        Some(base) => {
            url.push_str(base.trim_end_matches('/'));
            url.push('/');
            url.push_str(region.as_str());
        }
        None => {
            url.push_str("https://");
            url.push_str(region.as_str());
            url.push_str(HOST_SUFFIX);
        }
    }
    url.push_str("/v1/projects/");
    url.push_str(project_id);
    url.push_str("/messages:send");
    url
}

/// The base of a project's management API (`…/v1/projects/{project}`), with the same override
/// rule as [`send_url`].
pub fn project_url(region: Region, base_override: Option<&str>, project_id: &str) -> String {
    let host = match base_override {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), region.as_str()),
        None => region.base_url(),
    };
    format!("{host}/v1/projects/{project_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_region_has_its_documented_host() {
        assert_eq!(Region::Eu.base_url(), "https://eu.conversation.api.sinch.com");
        assert_eq!(Region::Us.base_url(), "https://us.conversation.api.sinch.com");
        assert_eq!(Region::Br.base_url(), "https://br.conversation.api.sinch.com");
    }

    #[test]
    fn parses_case_insensitively_and_rejects_others() {
        assert_eq!("EU".parse(), Ok(Region::Eu));
        assert_eq!("br".parse(), Ok(Region::Br));
        assert_eq!("in".parse::<Region>(), Err(UnknownRegion));
        assert_eq!("".parse::<Region>(), Err(UnknownRegion));
    }

    #[test]
    fn builds_send_url_for_real_and_overridden_bases() {
        assert_eq!(
            send_url(Region::Us, None, "p1"),
            "https://us.conversation.api.sinch.com/v1/projects/p1/messages:send"
        );
        assert_eq!(
            send_url(Region::Br, Some("http://127.0.0.1:9/"), "p1"),
            "http://127.0.0.1:9/br/v1/projects/p1/messages:send"
        );
    }
}
