//! STUN/TURN servers: parsed once from configuration, handed to webrtcbin and
//! advertised to clients in `Link: rel="ice-server"` headers (RFC 9725 §4.6).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceScheme {
    Stun,
    Turn,
    Turns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub scheme: IceScheme,
    /// `host:port`
    pub host_port: String,
    /// `?transport=udp` and the like, without the `?`.
    pub query: Option<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ICE server {0:?}: expected stun://host:port or turn[s]://user:password@host:port[?transport=udp|tcp]")]
pub struct IceServerError(String);

impl IceServer {
    pub fn parse(text: &str) -> Result<Self, IceServerError> {
        let err = || IceServerError(text.to_owned());
        let (scheme, rest) = text.split_once("://").ok_or_else(err)?;
        let scheme = match scheme {
            "stun" => IceScheme::Stun,
            "turn" => IceScheme::Turn,
            "turns" => IceScheme::Turns,
            _ => return Err(err()),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let (userinfo, host_port) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if host_port.is_empty() || host_port.contains('/') {
            return Err(err());
        }
        let (username, credential) = match userinfo {
            Some(u) => {
                let (name, pass) = u.split_once(':').ok_or_else(err)?;
                (Some(name.to_owned()), Some(pass.to_owned()))
            }
            None => (None, None),
        };
        if scheme != IceScheme::Stun && username.is_none() {
            return Err(err());
        }
        Ok(IceServer {
            scheme,
            host_port: host_port.to_owned(),
            query,
            username,
            credential,
        })
    }

    /// The URL form webrtcbin takes (`stun-server`, `add-turn-server`).
    pub fn gst_url(&self) -> String {
        let scheme = match self.scheme {
            IceScheme::Stun => "stun",
            IceScheme::Turn => "turn",
            IceScheme::Turns => "turns",
        };
        let auth = match (&self.username, &self.credential) {
            (Some(u), Some(c)) => format!("{u}:{c}@"),
            _ => String::new(),
        };
        let query = self
            .query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!("{scheme}://{auth}{}{query}", self.host_port)
    }

    /// The `Link` header value for WHIP/WHEP clients.
    pub fn link_header(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            IceScheme::Stun => "stun",
            IceScheme::Turn => "turn",
            IceScheme::Turns => "turns",
        };
        write!(f, "<{scheme}:{}", self.host_port)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        write!(f, ">; rel=\"ice-server\"")?;
        if let (Some(u), Some(c)) = (&self.username, &self.credential) {
            write!(
                f,
                "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                quote(u),
                quote(c)
            )?;
        }
        Ok(())
    }
}

/// Escapes a value for a quoted-string (RFC 9110 §5.6.4).
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_and_turn() {
        let s = IceServer::parse("stun://stun.example.net:3478").expect("stun");
        assert_eq!(
            s.link_header(),
            "<stun:stun.example.net:3478>; rel=\"ice-server\""
        );
        assert_eq!(s.gst_url(), "stun://stun.example.net:3478");
        let t =
            IceServer::parse("turn://u:p\"w@turn.example.net:3478?transport=udp").expect("turn");
        assert_eq!(
            t.link_header(),
            "<turn:turn.example.net:3478?transport=udp>; rel=\"ice-server\"; username=\"u\"; \
             credential=\"p\\\"w\"; credential-type=\"password\""
        );
        assert_eq!(
            t.gst_url(),
            "turn://u:p\"w@turn.example.net:3478?transport=udp"
        );
        assert!(IceServer::parse("turn://host:3478").is_err());
        assert!(IceServer::parse("http://x").is_err());
        assert!(IceServer::parse("stun://").is_err());
    }
}
