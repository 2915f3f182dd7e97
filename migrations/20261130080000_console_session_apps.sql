-- Wave 2 (issue 13, "sessions per app"): one console session may hold sign-ins to several apps, so
-- an operator who administers more than one app signs in to each (with that app's own UserSig or a
-- one-time link for it) and switches between them without signing in again.
--
-- console_session_apps: one row per (session, app): the admin identifier proven for that app, and
--                       until when that proof holds (12 h after it was given, whatever the other
--                       apps of the session say). A UserSig proves one app only, so each row is
--                       written by a sign-in to its own app.
-- console_sessions:     sdk_app_id and identifier now name the session's current app (the one the
--                       recordings, live and audit pages show); it is always one of its rows here.
--                       expires_at is the latest of its apps' expiries. The id is replaced (ON
--                       UPDATE CASCADE carries the rows) each time an app is added.
CREATE TABLE console_session_apps (
    id_hash      TEXT NOT NULL REFERENCES console_sessions ON DELETE CASCADE ON UPDATE CASCADE,
    sdk_app_id   BIGINT NOT NULL REFERENCES apps ON DELETE CASCADE,
    identifier   TEXT NOT NULL,
    signed_in_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (id_hash, sdk_app_id)
);
CREATE INDEX console_session_apps_by_expiry ON console_session_apps (expires_at);

-- Sessions open at the upgrade keep their one app.
INSERT INTO console_session_apps (id_hash, sdk_app_id, identifier, signed_in_at, expires_at)
SELECT id_hash, sdk_app_id, identifier, created_at, expires_at FROM console_sessions;
