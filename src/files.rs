//! Reading a file a person named: only regular files, opened without blocking (a named pipe or
//! a device never stalls the program), and never more than a cap whatever size the file system
//! reports. Photos and checkpoints are both read this way.

use std::io::Read;
use std::path::Path;

/// What kind of thing a path names when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    NamedPipe,
    Socket,
    CharacterDevice,
    BlockDevice,
    Other,
}

impl FileKind {
    pub fn of(file_type: std::fs::FileType) -> Self {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_fifo() {
            Self::NamedPipe
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_char_device() {
            Self::CharacterDevice
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else {
            Self::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Directory => "a folder",
            Self::NamedPipe => "a named pipe",
            Self::Socket => "a socket",
            Self::CharacterDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Other => "not a file",
        })
    }
}

/// Why a file could not be read. Plain values, so a photo's rejection can be kept and compared.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("no such file or folder")]
    NotFound,
    #[error("permission denied")]
    PermissionDenied,
    #[error("a loop of symbolic links")]
    SymlinkLoop,
    #[error("{0}, not a regular file; only files are read")]
    NotRegular(FileKind),
    #[error("{size} bytes, more than the {limit} read")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot read the file")]
    Io(#[source] crate::leaves::cause::Cause),
}

impl From<std::io::Error> for ReadError {
    fn from(error: std::io::Error) -> Self {
        match error.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied,
            _ if error.raw_os_error() == Some(libc::ELOOP) => Self::SymlinkLoop,
            _ => Self::Io(crate::leaves::cause::Cause::new(error)),
        }
    }
}

/// Reads a regular file of at most `max_bytes`. It is opened with `O_NONBLOCK`, which regular
/// files ignore and which keeps opening a named pipe from waiting for a writer; anything but a
/// regular file is then refused. The read stops past the cap, since devices and `/proc` files
/// report a size of 0.
pub fn read_regular(path: &Path, max_bytes: u64) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(FileKind::of(meta.file_type())));
    }
    let too_large = |size: u64| ReadError::TooLarge {
        size,
        limit: max_bytes,
    };
    if meta.len() > max_bytes {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// A path as one line of text: control characters (a newline in a file name) are escaped so a
/// message about the file stays on its line.
pub fn display_name(path: &Path) -> String {
    let name = path.display().to_string();
    if !name.chars().any(char::is_control) {
        return name;
    }
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_up_to_the_cap_and_refuses_past_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"twelve bytes").expect("write");
        assert_eq!(read_regular(&path, 12).expect("read"), b"twelve bytes");
        assert!(matches!(
            read_regular(&path, 11),
            Err(ReadError::TooLarge {
                size: 12,
                limit: 11
            })
        ));
    }

    #[test]
    fn a_device_reporting_size_zero_is_refused_not_read() {
        assert!(matches!(
            read_regular(Path::new("/dev/zero"), 1 << 20),
            Err(ReadError::NotRegular(FileKind::CharacterDevice))
        ));
        assert!(matches!(
            read_regular(Path::new("/"), 1 << 20),
            Err(ReadError::NotRegular(FileKind::Directory))
        ));
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        assert_eq!(display_name(Path::new("a\nb.jpg")), "a\\nb.jpg");
        assert_eq!(display_name(Path::new("plain.jpg")), "plain.jpg");
    }
}
