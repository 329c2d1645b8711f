//! Why the fast path gave up. Never shown to users: [`crate::audio`] decodes the file with
//! symphonia instead.

/// A stream this decoder does not handle, or an inconsistency in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported(pub &'static str);

pub(super) type Res<T> = std::result::Result<T, Unsupported>;

/// The data ended inside a header, subframe or code.
pub(super) const EOF: Unsupported = Unsupported("unexpected end of data");
