//! Typed identifiers for the ids that cross layers. Each is a string on the
//! wire and in the database, but a `SessionId` cannot be passed where a
//! `ParticipantId` is expected. They deref to `&str`, so reading one needs no
//! conversion, and they borrow as `str`, so maps keyed by them are looked up
//! with a plain `&str`.

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A class session (the `sessions` table's id, the path segment of every
    /// session route).
    SessionId
);
string_id!(
    /// A person in a session: the token's subject.
    ParticipantId
);
string_id!(
    /// A WHIP or WHEP resource (the last segment of its `Location`).
    ResourceId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn looks_up_by_str_and_serializes_as_a_string() {
        let id = SessionId::new("s1");
        let mut map = HashMap::new();
        map.insert(id.clone(), 1);
        assert_eq!(map.get("s1"), Some(&1));
        assert_eq!(
            serde_json::to_string(&id).expect("a string id serializes"),
            "\"s1\""
        );
        assert_eq!(&*id, "s1");
        assert_eq!(id, "s1");
    }
}
