//! The server's HTTP API for the programme lead (`/api/v1/...`): every JSON request
//! body and JSON response, as plain serde types.
//!
//! The server handles exactly these types and the UI sends and reads them, so the two
//! cannot drift apart. With the `openapi` feature they also describe themselves to
//! utoipa (the server's OpenAPI document: their doc comments are its descriptions);
//! without it the module compiles to wasm.
//!
//! Every lead route needs `Authorization: Bearer <token>` from [`Session`]; a device
//! route the device token from [`Paired`]. Every error is an [`ErrorBody`].
//! `{id}` is a programme id. [`crate::routes`] has one typed function per row below.
//!
//! | Route | Body | Answer |
//! |---|---|---|
//! | `POST /api/v1/auth/sign-in` | [`SignIn`] | [`Session`] |
//! | `POST /api/v1/auth/sign-out` | — | 204 |
//! | `GET /api/v1/auth/me` | — | [`LeadInfo`] |
//! | `POST /api/v1/devices/pair` | [`DevicePairRequest`] | [`Paired`] |
//! | `GET /api/v1/devices/me` | — | [`ServerDeviceInfo`] |
//! | `GET /api/v1/programmes` | — | `Vec<`[`ProgrammeSummary`]`>` |
//! | `POST /api/v1/programmes` | [`NewProgramme`] | 201 [`Programme`] |
//! | `GET /api/v1/programmes/{id}` | — | [`Programme`] |
//! | `PUT /api/v1/programmes/{id}` | [`Settings`] | [`Programme`] |
//! | `GET /api/v1/programmes/{id}/status` | — | [`ProgrammeStatus`] |
//! | `GET /api/v1/programmes/{id}/clients` | — | `Vec<`[`ClientView`]`>` |
//! | `POST /api/v1/programmes/{id}/clients` | [`NewClient`] | 201 [`NewClientId`] |
//! | `PUT /api/v1/programmes/{id}/clients/{client_id}` | [`ClientEdit`] | [`Client`] |
//! | `POST /api/v1/programmes/{id}/clients/import?`[`ImportQuery`] | CSV or XLSX bytes | [`ImportOutcome`] |
//! | `POST /api/v1/programmes/{id}/clients/import/columns?filename=` | CSV or XLSX bytes | [`ImportColumns`] |
//! | `PUT /api/v1/programmes/{id}/clients/{client_id}/relationship` | [`Relationship`] | `Option<`[`Assignment`]`>` |
//! | `GET /api/v1/programmes/{id}/reps` | — | `Vec<`[`RepView`]`>` |
//! | `POST /api/v1/programmes/{id}/reps` | [`RepInput`] | 201 [`NewRep`] |
//! | `PUT /api/v1/programmes/{id}/reps/{rep_id}` | [`RepInput`] | [`RepView`] |
//! | `POST /api/v1/programmes/{id}/template/questions` | [`NewQuestion`] | 201 [`Template`] |
//! | `PUT /api/v1/programmes/{id}/template/questions/{qid}` | [`QuestionChange`] | [`Template`] |
//! | `DELETE /api/v1/programmes/{id}/template/questions/{qid}` | — | [`Template`] |
//! | `GET /api/v1/programmes/{id}/assignments/suggestion` | — | [`SuggestionView`] |
//! | `POST /api/v1/programmes/{id}/assignments/apply` | — | [`Programme`] |
//! | `PUT /api/v1/programmes/{id}/assignments/{client_id}` | [`Override`] | `Option<`[`Assignment`]`>` |
//! | `POST /api/v1/programmes/{id}/pairing-codes` | [`NewPairingCode`] | 201 [`PairingCode`] |
//! | `GET /api/v1/programmes/{id}/devices` | — | `Vec<`[`DeviceView`]`>` |
//! | `POST /api/v1/programmes/{id}/devices/{device_id}/revoke` | — | 204 |
//! | `GET /api/v1/programmes/{id}/follow-ups?`[`FollowUpFilter`] | — | `Vec<`[`FollowUpView`]`>` |
//! | `PATCH /api/v1/programmes/{id}/visits/{visit_id}/follow-ups/{follow_up_id}` | [`FollowUpPatch`] | [`FollowUp`] |
//! | `GET /api/v1/programmes/{id}/visits/{visit_id}` | — | [`LeadVisit`] |
//! | `POST /api/v1/programmes/{id}/visits/{visit_id}/review` | [`ReviewInput`] | [`LeadVisit`] |
//! | `GET /api/v1/programmes/{id}/events` | — | server-sent events (`status`) |
//! | `GET /api/v1/programmes/{id}/referrals` | — | `Vec<`[`ReferralView`]`>` |
//! | `GET /api/v1/programmes/{id}/opportunities` | — | `Vec<`[`OpportunityView`]`>` |
//! | `GET /api/v1/programmes/{id}/exports/{file}` | — | file bytes |
//! | `GET /api/v1/programmes/{id}/meetings?`[`MeetingFilter`] | — | [`MeetingsReport`] |
//! | `GET /api/v1/programmes/{id}/meetings.ics?rep=` | — | an iCalendar file |
//! | `GET /healthz` | — | [`Health`] |

/// A rep's load in an assignment suggestion.
pub use rapport_domain::assign::RepLoad;
/// The merged programme status (`GET /api/v1/programmes/{id}/status`) and its parts.
pub use rapport_domain::status::{
    OpenFollowUp, OpportunityTotal, ProgrammeStatus, QualityFailure, RepStatus, VisitCounts,
};
/// Documents that lead routes return whole, and values that their fields hold.
pub use rapport_domain::{
    Assignment, Capacity, Client, FollowUp, FollowUpState, OpportunityKind, Programme,
    QuestionKind, Reason, ReviewInput, ReviewRound, ReviewState, Section, Segment, Strength,
    Template, Verdict, Visit, VisitState,
};

mod assignments;
mod auth;
mod clients;
mod devices;
mod errors;
mod events;
mod meetings;
mod ops;
mod programmes;
mod reps;
mod results;
mod template;

pub use assignments::*;
pub use auth::*;
pub use clients::*;
pub use devices::*;
pub use errors::*;
pub use events::*;
pub use meetings::*;
pub use ops::*;
pub use programmes::*;
pub use reps::*;
pub use results::*;
pub use template::*;

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;

    #[test]
    fn a_server_error_keeps_its_code_and_words_and_anything_else_names_the_status() {
        let body = r#"{"error":{"code":"invalid_credentials","message":"неверный пароль"}}"#;
        let err = server_error(401, body.as_bytes());
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("invalid_credentials", "неверный пароль")
        );
        let proxy = server_error(502, b"<html>Bad Gateway</html>");
        assert_eq!(proxy.code, "http_status");
        assert!(proxy.message.contains("502"), "{proxy:?}");
        assert_eq!(server_error(500, b"").code, "http_status");
    }

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
        let json = serde_json::to_string(value).expect("serialize");
        let back: T = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(&back, value, "{json}");
    }

    #[test]
    fn lead_types_round_trip_through_json_with_cyrillic() {
        round_trip(&Session {
            token: "rps_абв".into(),
            expires_ms: 1_800_000_000_000,
            lead: LeadInfo {
                id: "lead-1".into(),
                email: "ольга@пример.рф".into(),
                name: "Ольга Смирнова 🌟".into(),
            },
        });
        round_trip(&NewClient {
            company: "ООО «Ромашка»".into(),
            segment: Segment::KeyPrivate,
            original_rep: Some("rep-иванов".into()),
            relationship: Some(Strength::Excellent),
            monopolised: true,
            contact: Some(ContactBody {
                name: "Пётр Ильич".into(),
                role: "финансовый директор".into(),
                ..ContactBody::default()
            }),
            notes: "Любит рыбалку 🎣".into(),
        });
        round_trip(&FollowUpView {
            id: "f1".into(),
            visit_id: "v1".into(),
            client_id: "c1".into(),
            client_company: "АО «Север»".into(),
            description: "Перезвонить по тарифу".into(),
            owner: "Иван".into(),
            due: Some("2027-03-01".into()),
            state: FollowUpState::InProgress,
            overdue: true,
            source_question_id: None,
        });
        round_trip(&DevicePairRequest {
            code: "7k2m-q9xd-4htb".into(),
            actor: "ab".repeat(16),
            label: "Планшет Иванова".into(),
        });
    }

    #[test]
    fn an_error_body_from_the_server_parses() {
        let body =
            r#"{"error":{"code":"invalid_credentials","message":"неверный e-mail или пароль"}}"#;
        let parsed: ErrorBody = serde_json::from_str(body).expect("error body");
        assert_eq!(parsed.error.code, "invalid_credentials");
        assert_eq!(
            parsed.error.to_string(),
            "неверный e-mail или пароль (invalid_credentials)"
        );
        // And it serialises back to the same shape the server sends.
        let value = serde_json::to_value(&parsed).expect("serialize");
        let original: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(value, original);
    }

    #[test]
    fn absent_fields_take_the_servers_defaults() {
        let rep: RepInput =
            serde_json::from_str(r#"{"name":"Иван Петров","capacity":{"kind":"dedicated"}}"#)
                .expect("rep");
        assert!(rep.active, "a rep added without `active` takes part");
        assert_eq!(rep.email, "");
        let contact: ContactBody = serde_json::from_str(r#"{"name":"Анна"}"#).expect("contact");
        assert_eq!(contact.phone, "");
        let pair: DevicePairRequest =
            serde_json::from_str(r#"{"code":"x","actor":"ab"}"#).expect("pair");
        assert_eq!(pair.label, "");
        let query: ImportQuery = serde_json::from_str("{}").expect("query");
        assert!(!query.dry_run);
        let refused: Result<Relationship, _> = serde_json::from_str(
            r#"{"original_rep":null,"strength":"отличные","monopolised":false}"#,
        );
        assert!(refused.is_err(), "an unknown strength is refused");
    }
}
