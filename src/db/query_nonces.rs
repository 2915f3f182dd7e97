//! `query_nonces`: the query API's replay cache (`query.replay_cache`). A `(sign, random)` pair is
//! kept until its `expire_time`; after that the sign itself is refused as expired, so the row can go.

use sqlx::PgPool;

/// Records a query's `(sign, random)`; false if it was already there (a replay).
pub async fn remember(db: &PgPool, sdk_app_id: i64, sign: &str, random: i64, expire_time: i64) -> sqlx::Result<bool> {
    // Now and then, forget what expired: cheap with the expiry index, and no sweeper to run.
    if rand::random::<u8>() < 4 {
        sqlx::query("DELETE FROM query_nonces WHERE expires_at < now()")
            .execute(db)
            .await?;
    }
    let r = sqlx::query(
        "INSERT INTO query_nonces (sdk_app_id, sign, random, expires_at) VALUES ($1, lower($2), $3, to_timestamp($4))
         ON CONFLICT DO NOTHING",
    )
    .bind(sdk_app_id)
    .bind(sign.trim())
    .bind(random)
    .bind(expire_time as f64)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}
