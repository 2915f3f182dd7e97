//! The failure answers the handlers share, as OpenAPI responses in the error envelope
//! ([`super::envelope::ErrorResponse`]). A handler's `#[utoipa::path]` lists the sets that apply
//! to it beside its own answers, so each operation documents every status it can send.

use std::collections::BTreeMap;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

/// Responses with the error envelope, one per (status, description).
pub fn error_responses(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            (status.to_string(), response.into())
        })
        .collect()
}

macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $($status:literal => $description:literal),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                error_responses(&[$(($status, $description)),+])
            }
        }
    };
}

error_set!(
    /// What the `Caller` extractor answers: bad or missing credentials, a disabled app, a held-back
    /// address; and any internal failure.
    AuthErrors:
    401 => "Authentication failed (-10001): missing, malformed, forged or expired UserSig, unknown SdkAppId",
    403 => "Forbidden (-10006): local recording disabled for the app, someone else's task or upload, \
            not an admin identifier; or a quota that retrying cannot help (-10013)",
    429 => "Too many failed authentications from this address (-10012), or a quota that finishing \
            uploads frees (-10013); see Retry-After",
    500 => "Internal error (-10099); the message carries the RequestId to find in the server log",
);

error_set!(
    /// What the JSON body extractor (`ApiJson`) answers.
    JsonBodyErrors:
    400 => "Invalid parameter (-10000): the body is not the JSON described, or a value is out of range",
    413 => "Body larger than 64 KiB (-10009)",
    415 => "The body was not sent with Content-Type: application/json (-10000)",
);

error_set!(
    /// An operation on one task.
    TaskErrors:
    404 => "No such task in this app (-10007)",
);

error_set!(
    /// An operation that depends on the task's state.
    ConflictErrors:
    409 => "Conflicts with the task's current state (-10008)",
);

error_set!(
    /// A path parameter or query parameter that does not parse.
    ParameterErrors:
    400 => "Invalid parameter (-10000)",
);

error_set!(
    /// The tus requests' own failures.
    TusErrors:
    400 => "Invalid parameter (-10000): a tus header is malformed or missing",
    404 => "No such upload for this caller (-10007)",
    412 => "Tus-Resumable is missing or not 1.0.0 (-10000)",
);

error_set!(
    /// Creating an upload: sizes and quotas.
    UploadCreateErrors:
    409 => "The slice is already stored with another length (-10008)",
    413 => "Upload-Length is larger than upload.max_size (-10009)",
    507 => "The app's stored bytes quota is reached (-10013); see Retry-After",
);
