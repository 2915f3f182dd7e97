//! Per-app limits on what one user, task or app can make the server hold (`[quota]`): recordings
//! open at once per user, bytes announced by a user's unfinished uploads, slices per task, bytes
//! stored per app. Checked before anything is written, so a refused request leaves nothing behind.
//! 0 turns a limit off.

use crate::config::QuotaSettings;
use crate::db::usage;
use sqlx::PgPool;

/// A limit a request would pass. Each kind maps to its own HTTP status (see `http::error`): the
/// ones that free up by themselves are worth retrying, the others are not.
#[derive(Debug, thiserror::Error)]
pub enum Exceeded {
    #[error("user {user} already has {open} recordings open (quota.open_tasks_per_user = {limit}); stop one first")]
    OpenTasks { user: String, open: i64, limit: u32 },
    #[error("slice_index {index} is beyond this server's {limit} slices per task (quota.slices_per_task)")]
    SlicesPerTask { index: i64, limit: u32 },
    #[error("unfinished uploads of user {user} would announce {total} bytes, over quota.partial_bytes_per_user = {limit}; finish or end some first")]
    PartialBytes { user: String, total: i64, limit: u64 },
    #[error("SdkAppId {sdk_app_id} would store {total} bytes, over quota.stored_bytes_per_app = {limit}")]
    StoredBytes { sdk_app_id: i64, total: i64, limit: u64 },
}

pub type Result<T = ()> = std::result::Result<T, Exceeded>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Before a new task: the user's open (recording or paused) tasks.
pub async fn new_task(db: &PgPool, q: &QuotaSettings, sdk_app_id: i64, user: &str) -> std::result::Result<(), Error> {
    if q.open_tasks_per_user == 0 {
        return Ok(());
    }
    let open = usage::open_tasks(db, sdk_app_id, user).await?;
    if open >= q.open_tasks_per_user as i64 {
        return Err(Exceeded::OpenTasks {
            user: user.into(),
            open,
            limit: q.open_tasks_per_user,
        }
        .into());
    }
    Ok(())
}

/// A declared slice count or index against the per-task limit.
pub fn slice_index(q: &QuotaSettings, index: i64) -> Result {
    match q.slices_per_task {
        0 => Ok(()),
        limit if index >= limit as i64 => Err(Exceeded::SlicesPerTask { index, limit }),
        _ => Ok(()),
    }
}

/// Before a new upload of `length` bytes by `user`.
pub async fn new_upload(
    db: &PgPool,
    q: &QuotaSettings,
    sdk_app_id: i64,
    user: &str,
    length: i64,
) -> std::result::Result<(), Error> {
    if q.partial_bytes_per_user > 0 {
        let total = usage::receiving_bytes(db, sdk_app_id, user)
            .await?
            .saturating_add(length);
        if total > q.partial_bytes_per_user as i64 {
            return Err(Exceeded::PartialBytes {
                user: user.into(),
                total,
                limit: q.partial_bytes_per_user,
            }
            .into());
        }
    }
    if q.stored_bytes_per_app > 0 {
        let total = usage::stored_bytes(db, sdk_app_id).await?.saturating_add(length);
        if total > q.stored_bytes_per_app as i64 {
            return Err(Exceeded::StoredBytes {
                sdk_app_id,
                total,
                limit: q.stored_bytes_per_app,
            }
            .into());
        }
    }
    Ok(())
}
