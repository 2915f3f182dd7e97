//! A task's state, as the `tasks.state` column and the API's `State` field spell it.

use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Started; slices may arrive.
    Recording,
    /// Paused by the recorder; slices may still arrive.
    Paused,
    /// Stopped with a slice count; waiting for the last slices.
    Uploading,
    /// A splice job runs (or is queued to run again).
    Splicing,
    /// Spliced with every declared slice.
    Done,
    /// Spliced without some slices (`missing_slices`).
    Partial,
    /// The splice gave up (`failure_reason`).
    Failed,
}

impl TaskState {
    pub const ALL: [TaskState; 7] = [
        TaskState::Recording,
        TaskState::Paused,
        TaskState::Uploading,
        TaskState::Splicing,
        TaskState::Done,
        TaskState::Partial,
        TaskState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Recording => "recording",
            TaskState::Paused => "paused",
            TaskState::Uploading => "uploading",
            TaskState::Splicing => "splicing",
            TaskState::Done => "done",
            TaskState::Partial => "partial",
            TaskState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Spliced, or given up on: a result exists (or will not).
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Done | TaskState::Partial | TaskState::Failed)
    }

    /// Before the stop's splice: the recorder may still send slices for it.
    pub fn is_open(self) -> bool {
        matches!(self, TaskState::Recording | TaskState::Paused | TaskState::Uploading)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// Stored as TEXT: read and written through &str.
impl Type<Postgres> for TaskState {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for TaskState {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let s = <&str as Decode<Postgres>>::decode(value)?;
        TaskState::parse(s).ok_or_else(|| format!("unknown task state {s:?}").into())
    }
}

impl Encode<'_, Postgres> for TaskState {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_name() {
        for t in TaskState::ALL {
            assert_eq!(TaskState::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
        assert_eq!(TaskState::parse("Done"), None);
    }
}
