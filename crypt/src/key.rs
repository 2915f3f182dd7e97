//! Keys: 32 random bytes, kept in a [`secrecy::SecretBox`] (zeroed on drop, never printed), named
//! by a [`KeyId`] derived from them. A key file holds the key as 64 hex digits on one line, with
//! optional `#` comment lines; it is written readable by its owner only.

use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use std::path::Path;

pub const KEY_LEN: usize = 32;

/// Names a key without revealing it: the first 8 bytes of
/// SHA-256(`"localrecord-crypt key id\0"` ‖ key), shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl std::str::FromStr for KeyId {
    type Err = String;
    fn from_str(s: &str) -> Result<KeyId, String> {
        let mut b = [0u8; 8];
        hex::decode_to_slice(s, &mut b).map_err(|_| format!("a key id is 16 hex digits, not {s:?}"))?;
        Ok(KeyId(b))
    }
}

pub struct Key {
    secret: SecretBox<[u8; KEY_LEN]>,
    id: KeyId,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Clone for Key {
    fn clone(&self) -> Key {
        Key::from_bytes(self.secret.expose_secret())
    }
}

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Key {
        let mut secret = SecretBox::new(Box::new([0u8; KEY_LEN]));
        getrandom::getrandom(secret.expose_secret_mut()).expect("the OS random source");
        Key::new(secret)
    }

    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Key {
        Key::new(SecretBox::new(Box::new(*bytes)))
    }

    fn new(secret: SecretBox<[u8; KEY_LEN]>) -> Key {
        let mut h = Sha256::new();
        h.update(b"localrecord-crypt key id\0");
        h.update(secret.expose_secret());
        let id = KeyId(h.finalize()[..8].try_into().expect("8 of 32 bytes"));
        Key { secret, id }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The key as 64 hex digits (what a key file and the server's database hold).
    pub fn to_hex(&self) -> SecretString {
        hex::encode(self.secret.expose_secret()).into()
    }

    /// Parses 64 hex digits (surrounding whitespace ignored). The error never echoes the input.
    pub fn from_hex(s: &str) -> Result<Key, String> {
        let mut secret = SecretBox::new(Box::new([0u8; KEY_LEN]));
        hex::decode_to_slice(s.trim(), secret.expose_secret_mut())
            .map_err(|_| "a key is 64 hex digits (32 bytes)".to_owned())?;
        Ok(Key::new(secret))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.secret.expose_secret()
    }

    /// Reads a key file: 64 hex digits on the one line that is neither empty nor a `#` comment.
    pub fn read_file(path: &Path) -> Result<Key, String> {
        let text =
            SecretString::from(std::fs::read_to_string(path).map_err(|e| format!("key file {}: {e}", path.display()))?);
        let mut lines = text
            .expose_secret()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        match (lines.next(), lines.next()) {
            (Some(l), None) => Key::from_hex(l).map_err(|e| format!("key file {}: {e}", path.display())),
            _ => Err(format!(
                "key file {}: expected one line of 64 hex digits",
                path.display()
            )),
        }
    }

    /// Writes a new key file (mode 0600 on Unix; an existing file is never overwritten), with
    /// `comment` as its first line.
    pub fn write_file(&self, path: &Path, comment: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o.open(path)?;
        let text = format!("# {comment}\n{}\n", self.to_hex().expose_secret());
        f.write_all(text.as_bytes())?;
        f.sync_all()
    }
}
