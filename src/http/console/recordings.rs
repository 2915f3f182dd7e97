//! `GET /admin/recordings?class=&user=&task=&from=&to=&after=`: the app's recordings (every task,
//! any state), newest first, 50 a page, searched by class id, user, task id and start date (UTC,
//! `to` inclusive). Pages follow a keyset cursor (`after`, the last row's start time and task id),
//! not an offset, so every page is one short index walk (see `db::console_views::search`).

use super::overview::session_ctx;
use super::session::Session;
use super::{render, render_status, view, Page};
use crate::db::console_views::{self, Search};
use crate::db::tasks::Task;
use crate::http::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::context;
use std::collections::HashMap;

const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/recordings", get(list))
}

/// The search form's fields, as typed (echoed back into the form, escaped by the template).
#[derive(Default, serde::Serialize)]
struct Form {
    class: String,
    user: String,
    task: String,
    from: String,
    to: String,
}

fn date(s: &str, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
        .map_err(|_| format!("{name} must be a date like 2026-11-29"))
}

fn cursor(t: &Task) -> String {
    format!("{}_{}", t.start_time.timestamp_micros(), t.task_id)
}

fn parse_cursor(s: &str) -> Option<(DateTime<Utc>, &str)> {
    let (micros, id) = s.split_once('_')?;
    let t = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    (id.len() <= 128).then_some((t, id))
}

async fn list(State(state): State<AppState>, s: Session, RawQuery(q): RawQuery) -> Page {
    let q: HashMap<String, String> = form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
        .collect();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let form = Form {
        class: get("class"),
        user: get("user"),
        task: get("task"),
        from: get("from"),
        to: get("to"),
    };
    let mut search = Search {
        sdk_app_id: s.sdk_app_id(),
        ..Default::default()
    };
    let checked = (|| -> Result<(), String> {
        if !form.class.is_empty() {
            search.class_id = Some(form.class.parse().map_err(|_| "class id must be an integer")?);
        }
        for (v, name) in [(&form.user, "user"), (&form.task, "task id")] {
            if v.chars().count() > 128 {
                return Err(format!("{name} is longer than 128 characters"));
            }
        }
        search.user_id = Some(form.user.as_str()).filter(|v| !v.is_empty());
        search.task_id = Some(form.task.as_str()).filter(|v| !v.is_empty());
        search.from = date(&form.from, "from")?;
        search.until = date(&form.to, "to")?.map(|d| d + chrono::Duration::days(1));
        Ok(())
    })();
    let after_raw = get("after");
    let after = parse_cursor(&after_raw);
    if let Err(error) = checked {
        let ctx = context! { s => session_ctx(&s), form, error, rows => Vec::<()>::new(), nav => "recordings" };
        return render_status(StatusCode::BAD_REQUEST, "recordings.html", ctx);
    }
    let mut tasks = console_views::search(&state.db, &search, after, PAGE + 1).await?;
    let more = tasks.len() as i64 > PAGE;
    tasks.truncate(PAGE as usize);
    let next = match (more, tasks.last()) {
        (true, Some(last)) => {
            let mut params = form_urlencoded::Serializer::new(String::new());
            for (k, v) in [
                ("class", &form.class),
                ("user", &form.user),
                ("task", &form.task),
                ("from", &form.from),
                ("to", &form.to),
            ] {
                if !v.is_empty() {
                    params.append_pair(k, v);
                }
            }
            params.append_pair("after", &cursor(last));
            Some(format!("/admin/recordings?{}", params.finish()))
        }
        _ => None,
    };
    let rows: Vec<minijinja::Value> = tasks.into_iter().map(row).collect();
    let paged = after.is_some();
    render(
        "recordings.html",
        context! { s => session_ctx(&s), form, rows, next, paged, nav => "recordings" },
    )
}

fn row(t: Task) -> minijinja::Value {
    context! {
        href => view::task_href(&t.task_id),
        task_id => t.task_id, class_id => t.class_id, user_id => t.user_id, state => t.state,
        start_time => view::time(t.start_time),
        size => t.video_output_size.map(view::bytes),
        duration => t.video_output_duration_ms.map(view::duration_ms),
    }
}
