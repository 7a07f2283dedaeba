//! The compact binary form of a session (postcard), shared by the backends that
//! store bytes (memory, SQLite).

use crate::data::SessionData;
use crate::error::StoreError;

/// Room for a typical session's encoding; larger ones take the growing path.
const TYPICAL_ENCODING: usize = 256;

/// The session's encoding in a heap block of exactly its size (one allocation:
/// encoded on the stack first when it fits).
pub(crate) fn encode(data: &SessionData) -> Result<Box<[u8]>, StoreError> {
    let mut buf = [0u8; TYPICAL_ENCODING];
    if let Ok(used) = postcard::to_slice(data, &mut buf) {
        return Ok(Box::from(&*used));
    }
    postcard::to_allocvec(data)
        .map(Vec::into_boxed_slice)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode(bytes: &[u8]) -> Result<SessionData, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
