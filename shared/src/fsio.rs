//! Opening files that users name (audio, models, indexes, plugin states' model paths) without
//! trusting them: only regular files are read, never a device, FIFO, socket or folder, and a
//! file is opened without blocking so that a FIFO swapped in after a check cannot hang the
//! caller. Reads through [`read_capped`] stop at a cap, so a file that grows while it is read
//! cannot exceed it either.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::IoError;

/// What a path names when it is not a regular file, in words (`a named pipe (FIFO)`).
pub fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

fn not_regular(op: &'static str, path: &Path, t: std::fs::FileType) -> IoError {
    let why = format!("it is {}, not a regular file", kind_of(t));
    // A folder keeps its own kind, so that callers (the Python binding's IsADirectoryError)
    // can tell it apart.
    let kind = if t.is_dir() {
        std::io::ErrorKind::IsADirectory
    } else {
        std::io::ErrorKind::InvalidInput
    };
    IoError::on(op, path)(std::io::Error::new(kind, why))
}

/// Open `path` for reading if it is a regular file (symbolic links followed): a device, FIFO,
/// socket or folder is refused with a one-line error and never read. The file is opened
/// non-blocking and checked again through its open handle, so the check and the open see
/// the same file.
pub fn open_regular(path: &Path) -> Result<File, IoError> {
    let meta = std::fs::metadata(path).map_err(IoError::read(path))?;
    if !meta.is_file() {
        return Err(not_regular("read", path, meta.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK (Linux): opening a FIFO for reading returns at once instead of waiting
        // for a writer; on a regular file it changes nothing.
        options.custom_flags(0o4000);
    }
    let file = options.open(path).map_err(IoError::read(path))?;
    let meta = file.metadata().map_err(IoError::read(path))?;
    if !meta.is_file() {
        return Err(not_regular("read", path, meta.file_type()));
    }
    Ok(file)
}

/// The whole of a regular file, refused if it is larger than `cap` bytes: before reading
/// when its size says so, and while reading when it grows.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, IoError> {
    let file = open_regular(path)?;
    let too_large = |n: u64| {
        let why = format!("it is larger than {cap} bytes ({n} bytes)");
        IoError::read(path)(std::io::Error::new(std::io::ErrorKind::InvalidData, why))
    };
    let len = file.metadata().map_err(IoError::read(path))?.len();
    if len > cap {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(IoError::read(path))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_everything_else_refused() {
        let dir = std::env::temp_dir().join(format!("mgr-fsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.bin");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_capped(&f, 5).unwrap(), b"12345");
        let e = read_capped(&f, 4).unwrap_err().to_string();
        assert!(e.contains("larger than 4 bytes"), "{e}");
        let e = open_regular(&dir).unwrap_err().to_string();
        assert!(e.contains("a folder, not a regular file"), "{e}");
        #[cfg(target_os = "linux")]
        {
            let e = open_regular(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("a device"), "{e}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
