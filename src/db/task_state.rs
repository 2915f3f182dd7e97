//! A task's state, as the `tasks.state` column and the API's `State` field spell it.

use serde::{Deserialize, Serialize};

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

super::text_enum::stored_as_text!(TaskState, "task state");

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

    #[test]
    fn the_recorder_and_the_server_agree_on_which_states_are_finished() {
        for t in TaskState::ALL {
            let wire = localrecord_api::TaskStatus::FINISHED.contains(&t.as_str());
            assert_eq!(t.is_finished(), wire, "{t}");
        }
    }
}
