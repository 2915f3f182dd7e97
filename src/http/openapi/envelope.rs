//! Schemas of the seed's envelopes, for the OpenAPI document: success is
//! `{"Response":{...fields, "RequestId":"..."}}` (see `error::ok`), failure is
//! `{"Response":{"Error":{"Code":-10000,"Message":"..."},"RequestId":"..."}}` (see `error::Error`).
//! Neither is a Rust type of its own on the wire (handlers build them with `ok()`), so their
//! schemas are written here, around the real wire types they wrap.

use std::borrow::Cow;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// `{"RequestId": "..."}`: what `ok()` adds to every success body.
fn request_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .property(
            "RequestId",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Also in the x-request-id response header and the server log")),
        )
        .required("RequestId")
}

/// `{"Response": <inner> + RequestId}`.
pub fn wrap(inner: RefOr<Schema>) -> RefOr<Schema> {
    let response = AllOfBuilder::new().item(inner).item(request_id());
    ObjectBuilder::new()
        .property("Response", response)
        .required("Response")
        .into()
}

/// Declares `$name`, the success envelope around the wire type `$inner`.
macro_rules! envelope {
    ($name:ident, $inner:ty) => {
        #[doc = concat!("`{\"Response\": ", stringify!($inner), " + RequestId}`")]
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let inner = utoipa::openapi::Ref::from_schema_name(<$inner as utoipa::ToSchema>::name());
                $crate::http::openapi::envelope::wrap(inner.into())
            }
        }
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
            fn schemas(out: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
                out.push((
                    <$inner as utoipa::ToSchema>::name().into_owned(),
                    <$inner as utoipa::PartialSchema>::schema(),
                ));
                <$inner as utoipa::ToSchema>::schemas(out);
            }
        }
    };
}
pub(crate) use envelope;

/// The error envelope every endpoint but the query API and `/metrics`' scrape answers failures with.
pub struct ErrorResponse;

impl PartialSchema for ErrorResponse {
    fn schema() -> RefOr<Schema> {
        let error = ObjectBuilder::new()
            .property(
                "Code",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .description(Some(CODES)),
            )
            .property("Message", ObjectBuilder::new().schema_type(Type::String))
            .required("Code")
            .required("Message");
        let response = request_id().property("Error", error).required("Error");
        ObjectBuilder::new()
            .property("Response", response)
            .required("Response")
            .description(Some("The error envelope (TIC seed)"))
            .into()
    }
}

impl ToSchema for ErrorResponse {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorResponse")
    }
}

/// `Response.Error.Code`, from `localrecord_api::codes`.
pub const CODES: &str = "-10000 invalid parameter (400, 412 tus version, 415 content type); \
-10001 authentication failed (401); -10006 forbidden (403); -10007 not found (404, 410 expired upload); \
-10008 conflict with the current state (409); -10009 too large (413); -10010 tus checksum mismatch (460); \
-10011 request body stalled (408); -10012 too many failed authentications, see Retry-After (429); \
-10013 a quota was reached (403, 429, 507); -10099 internal error, the RequestId is in the server log (500)";

/// Raw bytes (an MP4, a tus chunk): `{"type": "string", "contentMediaType": "application/octet-stream"}`.
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl ToSchema for Binary {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Binary")
    }
}

/// The `Tus-Resumable` header's one accepted value.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the header is read as text by `tus::check_version`
pub enum TusResumable {
    #[schema(rename = "1.0.0")]
    V1,
}
