//! The outgoing result callback, as the OpenAPI 3.1 webhook `recording-result`: what the server
//! POSTs to an app's registered CallbackUrl (see `jobs::callback` and `auth::webhook`).

use crate::http::query::RecordInfo;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, PathsBuilder, Ref, Required};
use utoipa::{Modify, ToSchema};

pub struct RecordingResult;

const DESCRIPTION: &str = "A task's result (done, partial or failed), POSTed to the app's CallbackUrl \
(`POST /v4/ilvb_edu/local_record`) from a durable queue, at least once: retried on the schedule \
callback.retry_schedule_secs (a Retry-After from the receiver wins) until a 2xx; 410 Gone \
unregisters the URL. Signed with Standard Webhooks: verify `webhook-signature` with the app's \
`whsec_` secret (`WebhookSecret`); `webhook-id` is the same on every attempt of one message, so \
receivers can drop duplicates.";

fn header(name: &str, description: &str) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
}

/// The body: the seed's `record_info_list` entry plus `SdkAppId`, `State` and, when they apply,
/// `MissingSlices` and `FailureReason` (see `jobs::callback::body`).
fn body() -> AllOfBuilder {
    let int = || ObjectBuilder::new().schema_type(Type::Integer);
    let extra = ObjectBuilder::new()
        .property("SdkAppId", int())
        .property(
            "State",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["done", "partial", "failed"])),
        )
        .property(
            "MissingSlices",
            ArrayBuilder::new()
                .items(int())
                .description(Some("partial: the slice indexes the recording lacks")),
        )
        .property(
            "FailureReason",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("failed: why")),
        )
        .required("SdkAppId")
        .required("State");
    AllOfBuilder::new()
        .item(Ref::from_schema_name(RecordInfo::name()))
        .item(extra)
        .description(Some(
            "VideoOutputUrl is empty when there is no MP4 (failed); VideoOutputDuration is in ms",
        ))
}

impl Modify for RecordingResult {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let op = OperationBuilder::new()
            .operation_id(Some("recordingResult"))
            .summary(Some("A recording's result, sent to the app's CallbackUrl"))
            .description(Some(DESCRIPTION))
            .tag("business")
            .parameter(header("webhook-id", "The message's id, the same on every attempt"))
            .parameter(header("webhook-timestamp", "Unix seconds of this attempt"))
            .parameter(header(
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}`; during a \
                 secret's rotation overlap, one per secret, space-separated",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content("application/json", ContentBuilder::new().schema(Some(body())).build())
                    .build(),
            ))
            .response(
                "200",
                ResponseBuilder::new().description("Any 2xx: delivered, no more attempts"),
            )
            .response(
                "410",
                ResponseBuilder::new().description("Gone: the server unregisters the CallbackUrl"),
            )
            .response(
                "default",
                ResponseBuilder::new().description("Anything else: retried later"),
            );
        let item = PathItem::new(HttpMethod::Post, op);
        doc.webhooks = Some(PathsBuilder::new().path("recording-result", item).build());
        // RecordInfo is referenced by the webhook's body; it is also the query API's, so it is
        // registered there already, but make sure either way.
        let c = doc.components.get_or_insert_with(Default::default);
        c.schemas
            .entry(RecordInfo::name().into_owned())
            .or_insert_with(<RecordInfo as utoipa::PartialSchema>::schema);
    }
}
