//! TaskIds: checked once where they enter (a path, a metadata value, a file name), so that what
//! holds a [`TaskId`] may use it as an object key or a directory name.

use serde::{Deserialize, Serialize};

/// A TaskId that is safe as a file or directory name: ASCII letters, digits, `-` and `_`, at
/// most 128 of them (no `.`, no `/`). Every TaskId the recorder keeps on disk is one.
pub fn is_safe_task_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The server's TaskIds: `{SdkAppId}-{ClassId}-{32 lowercase hex}`.
pub fn is_server_task_id(id: &str, sdk_app_id: u64, class_id: i64) -> bool {
    let Some(rest) = id.strip_prefix(&format!("{sdk_app_id}-{class_id}-")) else {
        return false;
    };
    is_safe_task_id(id) && rest.len() == 32 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A TaskId known to be safe ([`is_safe_task_id`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaskId(String);

/// Not a TaskId: empty, longer than 128 bytes, or with a character other than ASCII letters,
/// digits, `-` and `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotATaskId;

impl std::fmt::Display for NotATaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a task id (1 to 128 ASCII letters, digits, '-' or '_')")
    }
}

impl std::error::Error for NotATaskId {}

impl TaskId {
    pub fn parse(s: &str) -> Result<TaskId, NotATaskId> {
        is_safe_task_id(s).then(|| TaskId(s.to_owned())).ok_or(NotATaskId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TaskId {
    type Error = NotATaskId;
    fn try_from(s: String) -> Result<TaskId, NotATaskId> {
        is_safe_task_id(&s).then_some(TaskId(s)).ok_or(NotATaskId)
    }
}

impl From<TaskId> for String {
    fn from(t: TaskId) -> String {
        t.0
    }
}

impl std::ops::Deref for TaskId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_that_could_leave_a_directory_are_refused() {
        let good = "1400000001-1212-6f0c0e3b9a0d4f4c8a1b2c3d4e5f6a7b";
        assert!(is_server_task_id(good, 1400000001, 1212));
        assert!(!is_server_task_id(good, 1400000001, 1213), "another class");
        assert!(!is_server_task_id("1400000001-1212-../../x", 1400000001, 1212));
        assert!(is_safe_task_id("local-1700000000-00ff"));
        for bad in ["", "../../x", "a/b", "a.b", ".", "..", "x\\y", "a b", &"x".repeat(129)] {
            assert!(!is_safe_task_id(bad), "{bad:?}");
            assert_eq!(TaskId::parse(bad), Err(NotATaskId));
            assert!(serde_json::from_value::<TaskId>(serde_json::json!(bad)).is_err());
        }
        assert_eq!(TaskId::parse(good).unwrap().as_str(), good);
    }
}
