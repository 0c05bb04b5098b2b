//! The key pseudonyms are made with (`[privacy] hash_key_file`), read whenever a
//! configuration is loaded (at start and at each reload), and refused when the file is
//! missing, not a regular file, open to group or others (mode `& 0o077`), or holds fewer
//! than [`MIN_KEY_BYTES`] bytes. The key is the file's bytes, trailing blanks and newlines
//! aside (so `openssl rand -base64 32 > FILE` and `head -c 32 /dev/urandom > FILE` both
//! work).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::record::{HashKey, KeyError, MIN_KEY_BYTES};

/// Group and other permission bits.
const OPEN_TO_OTHERS: u32 = 0o077;
/// Longest key file read; a key is a few dozen bytes.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The key in `path`; the error says what is wrong and how to fix it.
pub(super) fn read(path: &Path) -> Result<HashKey, String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & OPEN_TO_OTHERS != 0 {
        return Err(format!(
            "{shown} is open to group or others (mode {mode:04o}), and the key must stay \
             secret: chmod 600 {shown} (owned by the user the logger runs as)"
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {e}"))?;
    HashKey::new(bytes.trim_ascii_end()).map_err(|e| match e {
        KeyError::Empty => format!("{shown} is empty"),
        KeyError::Short(n) => format!(
            "{shown} holds {n} bytes; a key needs at least {MIN_KEY_BYTES} (make one: \
             head -c 32 /dev/urandom | base64 > {shown})"
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn key_file(dir: &Path, content: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join("hash.key");
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_key_of_16_bytes_or_more_is_read_newline_aside() {
        let dir = tempfile::tempdir().unwrap();
        let with_newline =
            read(&key_file(dir.path(), b"0123456789abcdef0123\n", 0o600)).expect("a good key file");
        let without = read(&key_file(dir.path(), b"0123456789abcdef0123", 0o400)).unwrap();
        assert_eq!(with_newline.pseudonym(b"x"), without.pseudonym(b"x"));
    }

    #[test]
    fn missing_empty_short_and_open_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read(&dir.path().join("nothing")).unwrap_err();
        assert!(missing.contains("No such file"), "{missing}");
        let empty = read(&key_file(dir.path(), b"\n", 0o600)).unwrap_err();
        assert!(empty.ends_with("is empty"), "{empty}");
        let short = read(&key_file(dir.path(), b"0123456789", 0o600)).unwrap_err();
        assert!(short.contains("holds 10 bytes"), "{short}");
        for mode in [0o640, 0o604, 0o620, 0o644] {
            let open = read(&key_file(dir.path(), b"0123456789abcdef0123", mode)).unwrap_err();
            assert!(
                open.contains(&format!("open to group or others (mode {mode:04o})")),
                "{open}"
            );
        }
        let not_file = read(dir.path()).unwrap_err();
        assert!(not_file.contains("not a regular file"), "{not_file}");
    }
}
