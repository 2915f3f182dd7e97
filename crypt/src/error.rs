//! Why a file does not decrypt. Readers that implement `std::io::Read` carry these inside an
//! `io::Error` of kind `InvalidData` (see [`Error::from_io`]).

use crate::KeyId;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a localrecord encrypted file (no LRCRYPT header)")]
    NotEncrypted,
    #[error("unsupported encrypted file: format version {version}, algorithm {algorithm}")]
    Unsupported { version: u8, algorithm: u8 },
    #[error("damaged encrypted file header: {0}")]
    BadHeader(&'static str),
    #[error("the file was encrypted with key {file}, not with the given key {given}")]
    WrongKey { file: KeyId, given: KeyId },
    #[error(
        "chunk {chunk} (at byte {offset}) failed authentication: the file was changed, or chunks \
         were reordered or taken from another file"
    )]
    Corrupt { chunk: u64, offset: u64 },
    #[error(
        "truncated: the file ends without its last chunk ({chunks} whole chunks, {plaintext} \
         plaintext bytes authentic; {dropped} trailing bytes do not authenticate); it was cut, \
         e.g. by a crash while recording"
    )]
    Truncated { chunks: u64, plaintext: u64, dropped: u64 },
    #[error("the file has too many chunks for its 32-bit chunk counter")]
    TooLong,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The format error inside an `io::Error` returned by this crate's readers, if any.
    pub fn from_io(e: &std::io::Error) -> Option<&Error> {
        e.get_ref()?.downcast_ref::<Error>()
    }

    /// Unwraps an `io::Error` from a reader back into the format error it carries.
    pub fn into_crypt(e: std::io::Error) -> Error {
        if Error::from_io(&e).is_some() {
            let inner = e.into_inner().expect("checked above");
            *inner.downcast::<Error>().expect("checked above")
        } else {
            Error::Io(e)
        }
    }

    /// This error as an `io::Error` (kind `InvalidData`, recoverable with [`Error::from_io`]).
    pub fn into_io_error(self) -> std::io::Error {
        self.into_io()
    }

    pub(crate) fn into_io(self) -> std::io::Error {
        match self {
            Error::Io(e) => e,
            e => std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }
    }
}
