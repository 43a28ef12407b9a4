//! The HTTP API: routes, their OpenAPI description, and thin handlers that parse,
//! call one function, and map the error.

pub mod assignments;
pub mod auth;
pub mod clients;
pub mod devices;
pub mod ops;
pub mod programmes;
pub mod reps;
pub mod results;
pub mod sync;
pub mod template;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The OpenAPI document's frame; paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rapport server API",
        description = "Sync for reps' devices and the programme lead's API. Lead endpoints need `Authorization: Bearer <session token>` from sign-in (security `lead_session`); device endpoints need the device token from pairing (`device_token`). Errors are `{\"error\": {\"code\", \"message\"}}` with a stable code."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sign-in and device pairing"),
        (name = "sync", description = "Device sync (binary protocol of rapport-protocol)"),
        (name = "programmes", description = "Programmes, template, reps, clients, assignments"),
        (name = "devices", description = "Pairing codes and devices"),
        (name = "results", description = "Status, follow-ups, referrals, opportunities, exports"),
        (name = "operations", description = "Health, metrics, this document")
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "lead_session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rps_…")
                    .description(Some(
                        "A lead's session token from POST /api/v1/auth/sign-in",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("rpd_…")
                    .description(Some("A device token from POST /api/v1/devices/pair"))
                    .build(),
            ),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::routes())
        .merge(auth::routes())
        .merge(sync::routes())
        .merge(programmes::routes())
        .merge(devices::routes())
        .merge(reps::routes())
        .merge(clients::routes())
        .merge(template::routes())
        .merge(assignments::routes())
        .merge(results::routes())
}

/// The OpenAPI document as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
