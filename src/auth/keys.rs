use std::path::Path;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;

use super::{AuthError, Claims};
use crate::cli::AuthArgs;

const SECRET_FILE: &str = "jwt-secret";

/// Signing and verification keys for one algorithm.
#[derive(Clone)]
pub struct Keys {
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
    decoding: Option<DecodingKey>,
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
        }
    }

    /// Keys from the command line: RS256 when key files are given, else HS256
    /// from the configured secret or one generated once into the data directory.
    pub fn from_args(args: &AuthArgs, data_dir: &Path) -> Result<Self, AuthError> {
        if args.jwt_key_file.is_some() || args.jwt_public_key_file.is_some() {
            let read = |p: &Path| {
                std::fs::read(p).map_err(|e| AuthError::Config(format!("{}: {e}", p.display())))
            };
            let encoding = match &args.jwt_key_file {
                Some(p) => Some(
                    EncodingKey::from_rsa_pem(&read(p)?)
                        .map_err(|e| AuthError::Config(format!("{}: {e}", p.display())))?,
                ),
                None => None,
            };
            let decoding = match &args.jwt_public_key_file {
                Some(p) => Some(
                    DecodingKey::from_rsa_pem(&read(p)?)
                        .map_err(|e| AuthError::Config(format!("{}: {e}", p.display())))?,
                ),
                None => None,
            };
            return Ok(Keys {
                algorithm: Algorithm::RS256,
                encoding,
                decoding,
            });
        }
        if let Some(secret) = &args.jwt_secret {
            if secret.len() < 16 {
                return Err(AuthError::Config(
                    "the JWT secret must be at least 16 characters".into(),
                ));
            }
            return Ok(Self::hs256(secret.as_bytes()));
        }
        Ok(Self::hs256(&load_or_create_secret(data_dir)?))
    }

    pub fn can_verify(&self) -> bool {
        self.decoding.is_some()
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            AuthError::Config("no signing key: set --jwt-key-file or --jwt-secret".into())
        })?;
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, key)
            .map_err(|e| AuthError::Config(e.to_string()))
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let key = self.decoding.as_ref().ok_or_else(|| {
            AuthError::Config("no verification key: set --jwt-public-key-file".into())
        })?;
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid(e.to_string()),
            })
    }
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
    fn generated_secret_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Keys::from_args(&AuthArgs::default(), dir.path()).expect("keys");
        let b = Keys::from_args(&AuthArgs::default(), dir.path()).expect("keys");
        let claims = Claims::new("u", "u", Role::Guest, None, Duration::from_secs(60));
        let token = a.sign(&claims).expect("sign");
        assert!(b.verify(&token).is_ok());
    }
}
