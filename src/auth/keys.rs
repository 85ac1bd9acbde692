use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;

use super::{AuthError, Claims};

const SECRET_FILE: &str = "jwt-secret";
/// Clock skew allowed on `exp`, `nbf` and the lifetime check, in seconds.
const LEEWAY_S: u64 = 5;
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// What a valid token must also satisfy, beyond its signature and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    /// Longest accepted lifetime: `exp - iat`, and `exp - now`, at most this.
    pub max_lifetime: Duration,
    /// When set, tokens must carry this `iss` (and ours are signed with it).
    pub issuer: Option<String>,
    /// When set, tokens must carry this `aud` (and ours are signed with it).
    pub audience: Option<String>,
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
            issuer: None,
            audience: None,
        }
    }
}

/// How tokens are signed and checked.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub keys: KeySource,
    pub rules: TokenRules,
}

/// Where the signing and verification keys come from.
#[derive(Debug, Clone, Default)]
pub enum KeySource {
    /// HS256 with a secret generated once into the data directory.
    #[default]
    Generated,
    /// HS256 with this shared secret (at least 16 characters).
    Secret(String),
    /// RS256: the PEM private key signs, the PEM public key verifies.
    Rsa {
        private_key: Option<PathBuf>,
        public_key: Option<PathBuf>,
    },
}

/// Signing and verification keys for one algorithm.
#[derive(Clone)]
pub struct Keys {
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: Option<DecodingKey>,
    rules: TokenRules,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Keys {
    pub fn hs256(secret: &[u8]) -> Self {
        Keys {
            algorithm: Algorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: Some(DecodingKey::from_secret(secret)),
            rules: TokenRules::default(),
        }
    }

    /// The same keys with other validation rules.
    pub fn with_rules(mut self, rules: TokenRules) -> Self {
        self.rules = rules;
        self
    }

    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// RS256: the private key signs, the public key verifies.
    fn rsa(private_key: Option<&Path>, public_key: Option<&Path>) -> Result<Self, AuthError> {
        Ok(Keys {
            algorithm: Algorithm::RS256,
            encoding: private_key
                .map(|p| read_pem(p, EncodingKey::from_rsa_pem))
                .transpose()?,
            decoding: public_key
                .map(|p| read_pem(p, DecodingKey::from_rsa_pem))
                .transpose()?,
            rules: TokenRules::default(),
        })
    }

    /// Keys and rules from the configuration.
    pub fn from_config(config: &AuthConfig, data_dir: &Path) -> Result<Self, AuthError> {
        Ok(Self::keys_from_config(config, data_dir)?.with_rules(config.rules.clone()))
    }

    fn keys_from_config(config: &AuthConfig, data_dir: &Path) -> Result<Self, AuthError> {
        match &config.keys {
            KeySource::Rsa {
                private_key,
                public_key,
            } => Self::rsa(private_key.as_deref(), public_key.as_deref()),
            KeySource::Secret(secret) if secret.len() < 16 => Err(AuthError::Config(
                "the JWT secret must be at least 16 characters".into(),
            )),
            KeySource::Secret(secret) => Ok(Self::hs256(secret.as_bytes())),
            KeySource::Generated => Ok(Self::hs256(&load_or_create_secret(data_dir)?)),
        }
    }

    pub fn can_verify(&self) -> bool {
        self.decoding.is_some()
    }

    /// Signs `claims`, with our issuer and audience when configured.
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            AuthError::Config("no signing key: set --jwt-key-file or --jwt-secret".into())
        })?;
        let mut claims = claims.clone();
        if claims.iss.is_none() {
            claims.iss.clone_from(&self.rules.issuer);
        }
        if claims.aud.is_none() {
            claims.aud.clone_from(&self.rules.audience);
        }
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|e| AuthError::Config(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let key = self.decoding.as_ref().ok_or_else(|| {
            AuthError::Config("no verification key: set --jwt-public-key-file".into())
        })?;
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.rules.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.rules.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            // Without a configured audience, a token's `aud` is not checked.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                _ => AuthError::Invalid(e.to_string()),
            })?;
        let now = crate::time::now_ms().max(0) as u64 / 1000;
        self.check_lifetime(&claims, now)?;
        Ok(claims)
    }

    /// A token may not live longer than `max_lifetime`, counted from its
    /// `iat` (when it has one) and from now: a stolen token cannot be good
    /// for years.
    fn check_lifetime(&self, claims: &Claims, now: u64) -> Result<(), AuthError> {
        let max = self.rules.max_lifetime.as_secs();
        let from_now = claims.exp.saturating_sub(now);
        let from_issue = if claims.iat > 0 {
            claims.exp.saturating_sub(claims.iat)
        } else {
            from_now
        };
        if from_now > max + LEEWAY_S || from_issue > max + LEEWAY_S {
            return Err(AuthError::TooLong(max));
        }
        Ok(())
    }
}

/// A PEM key file, parsed; errors name the file.
fn read_pem<K>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<K, jsonwebtoken::errors::Error>,
) -> Result<K, AuthError> {
    let failed = |e: &dyn std::fmt::Display| AuthError::Config(format!("{}: {e}", path.display()));
    let pem = std::fs::read(path).map_err(|e| failed(&e))?;
    parse(&pem).map_err(|e| failed(&e))
}

/// The embedded default: a random secret made on first start and kept, so tokens
/// survive restarts without anyone choosing (or hard-coding) a secret.
fn load_or_create_secret(data_dir: &Path) -> Result<Vec<u8>, AuthError> {
    let path = data_dir.join(SECRET_FILE);
    let io = |e: std::io::Error| AuthError::Config(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => {
            return Err(AuthError::Config(format!(
                "{} is too short",
                path.display()
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    write_private(&path, &secret).map_err(io)?;
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::Role;

    #[test]
    fn hs256_round_trip_and_rejections() {
        let keys = Keys::hs256(b"0123456789abcdef0123456789abcdef");
        let claims = Claims::new("u1", "Ada", Role::Instructor, None, Duration::from_secs(60));
        let token = keys.sign(&claims).expect("sign");
        assert_eq!(keys.verify(&token).expect("verify"), claims);

        let other = Keys::hs256(b"another-secret-another-secret-xx");
        assert!(matches!(other.verify(&token), Err(AuthError::Invalid(_))));
        assert!(matches!(keys.verify("garbage"), Err(AuthError::Invalid(_))));

        let mut expired = claims.clone();
        expired.exp = 1000;
        let token = keys.sign(&expired).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::Expired)));
    }

    #[test]
    fn lifetime_and_not_before() {
        let keys = Keys::hs256(b"0123456789abcdef0123456789abcdef");
        let now = crate::time::now_ms() as u64 / 1000;
        let ok = Claims::new("u", "u", Role::Guest, None, Duration::from_secs(3600));
        assert!(keys.verify(&keys.sign(&ok).expect("sign")).is_ok());
        let mut forever = ok.clone();
        forever.exp = u64::MAX;
        let token = keys.sign(&forever).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::TooLong(_))));
        // Without `iat`, the time left counts.
        let mut no_iat = ok.clone();
        no_iat.iat = 0;
        no_iat.exp = now + 25 * 3600;
        let token = keys.sign(&no_iat).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::TooLong(_))));
        let mut old = ok.clone();
        old.iat = now - 23 * 3600;
        old.exp = now + 2 * 3600;
        let token = keys.sign(&old).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::TooLong(_))));
        let mut early = ok.clone();
        early.nbf = Some(now + 60);
        let token = keys.sign(&early).expect("sign");
        assert!(matches!(keys.verify(&token), Err(AuthError::NotYetValid)));
        let short = keys.clone().with_rules(TokenRules {
            max_lifetime: Duration::from_secs(600),
            ..TokenRules::default()
        });
        let token = keys.sign(&ok).expect("sign");
        assert!(matches!(short.verify(&token), Err(AuthError::TooLong(600))));
    }

    #[test]
    fn issuer_and_audience_when_configured() {
        let plain = Keys::hs256(b"0123456789abcdef0123456789abcdef");
        let strict = plain.clone().with_rules(TokenRules {
            issuer: Some("iss-a".into()),
            audience: Some("aud-a".into()),
            ..TokenRules::default()
        });
        let claims = Claims::new("u", "u", Role::Guest, None, Duration::from_secs(60));
        let unmarked = plain.sign(&claims).expect("sign");
        assert!(strict.verify(&unmarked).is_err());
        let marked = strict.sign(&claims).expect("sign");
        let back = strict.verify(&marked).expect("verify");
        assert_eq!(back.iss.as_deref(), Some("iss-a"));
        assert_eq!(back.aud.as_deref(), Some("aud-a"));
        // A server without the rules ignores them.
        assert!(plain.verify(&marked).is_ok());
    }

    #[test]
    fn generated_secret_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Keys::from_config(&AuthConfig::default(), dir.path()).expect("keys");
        let b = Keys::from_config(&AuthConfig::default(), dir.path()).expect("keys");
        let claims = Claims::new("u", "u", Role::Guest, None, Duration::from_secs(60));
        let token = a.sign(&claims).expect("sign");
        assert!(b.verify(&token).is_ok());
    }
}
