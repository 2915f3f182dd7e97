//! The security schemes: a UserSig (Tencent TLS signature v2) as three query parameters or one
//! `Authorization: UserSig ...` header (see `http::caller`), the query API's `sign`, and the
//! metrics token.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

pub struct Schemes;

impl Modify for Schemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        let query = |name: &str, description: &str| {
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(name, description)))
        };
        c.add_security_scheme(
            "SdkAppId",
            query("sdkappid", "The app's SdkAppId (with identifier and usersig)"),
        );
        c.add_security_scheme(
            "Identifier",
            query("identifier", "The caller's UserId (with sdkappid and usersig)"),
        );
        c.add_security_scheme(
            "UserSig",
            query(
                "usersig",
                "A UserSig (Tencent TLS signature v2, HMAC-SHA256 with the app's SecretKey) for sdkappid \
                 and identifier; `localrecord usersig` prints one",
            ),
        );
        c.add_security_scheme(
            "UserSigHeader",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`UserSig sdkappid=1400000001,identifier=alice,usersig=<token>` (values may be \
                 percent-encoded); taken instead of the query parameters when present",
            ))),
        );
        c.add_security_scheme(
            "QuerySign",
            query(
                "sign",
                "md5(TicKey + expire_time) in lowercase hex (TIC seed), with the query parameters \
                 sdkappid and expire_time (a Unix time ahead of now, at most query.max_expire_window_secs)",
            ),
        );
        c.add_security_scheme(
            "MetricsToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "metrics.token; a metrics.listen listener serves /metrics without it",
                    ))
                    .build(),
            ),
        );
    }
}
