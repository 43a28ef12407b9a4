//! The lead API's routes, typed: one function per route of the table in [`crate::lead`],
//! each giving the method and the path (segments percent-encoded) and tying them to the
//! body the route takes and the answer it gives.
//!
//! A caller that holds a [`Route<B, A>`] can only send a `B` and read an `A`, so a path
//! and its types are written once, here, instead of at every call. `()` as the body
//! means none; `()` as the answer means an empty one (204). [`Upload`] is a body of raw
//! bytes, [`FileBytes`] an answer of raw bytes (neither is JSON).

use std::fmt::Write as _;
use std::marker::PhantomData;

use crate::lead::{
    Assignment, Client, ClientEdit, ClientView, DevicePairRequest, DeviceView, FollowUp,
    FollowUpFilter, FollowUpPatch, FollowUpView, Health, ImportColumns, ImportOutcome, ImportQuery,
    LeadInfo, LeadVisit, MeetingFilter, MeetingsReport, NewClient, NewClientId, NewPairingCode,
    NewProgramme, NewQuestion, NewRep, OpportunityView, Override, Paired, PairingCode, Programme,
    ProgrammeStatus, ProgrammeSummary, QuestionChange, ReferralView, Relationship, RepInput,
    RepView, ReviewInput, ServerDeviceInfo, Session, Settings, SignIn, SuggestionView, Template,
};

/// An HTTP method of the lead API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method as HTTP writes it (`GET`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A body of raw bytes (a CSV or XLSX file), sent with its own content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upload;

/// An answer of raw bytes (an export file), read with its content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileBytes;

/// An endless answer of server-sent events (`text/event-stream`), read as it comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventStream;

/// One call of the lead API: method and path, with the body type `B` it takes and the
/// answer type `A` it gives.
pub struct Route<B, A> {
    /// The method.
    pub method: Method,
    /// The path from the server's root, query included (`/api/v1/programmes/p1/reps`).
    pub path: String,
    types: PhantomData<fn(B) -> A>,
}

impl<B, A> Route<B, A> {
    fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            types: PhantomData,
        }
    }
}

impl<B, A> Clone for Route<B, A> {
    fn clone(&self) -> Self {
        Self::new(self.method, self.path.clone())
    }
}

impl<B, A> PartialEq for Route<B, A> {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.path == other.path
    }
}

impl<B, A> std::fmt::Debug for Route<B, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.path)
    }
}

/// `value` as one path segment or query value: everything but `A-Z a-z 0-9 - _ . ~`
/// percent-encoded (UTF-8), so an id with `/` or `?` stays one segment.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `/api/v1/programmes/{id}` followed by `rest`.
fn programme_path(id: &str, rest: &str) -> String {
    format!("/api/v1/programmes/{}{rest}", encode(id))
}

fn get<A>(path: String) -> Route<(), A> {
    Route::new(Method::Get, path)
}

/// `?a=1&b=2` from the pairs that are present; empty when none is.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `POST /api/v1/auth/sign-in`: e-mail and password for a session.
pub fn sign_in() -> Route<SignIn, Session> {
    Route::new(Method::Post, "/api/v1/auth/sign-in".into())
}

/// `POST /api/v1/auth/sign-out`: ends the session (204).
pub fn sign_out() -> Route<(), ()> {
    Route::new(Method::Post, "/api/v1/auth/sign-out".into())
}

/// `GET /api/v1/auth/me`: who is signed in.
pub fn me() -> Route<(), LeadInfo> {
    get("/api/v1/auth/me".into())
}

/// `POST /api/v1/devices/pair`: a device pairs with a one-time code.
pub fn pair_device() -> Route<DevicePairRequest, Paired> {
    Route::new(Method::Post, "/api/v1/devices/pair".into())
}

/// `GET /api/v1/devices/me`: the paired device as the server knows it.
pub fn device_me() -> Route<(), ServerDeviceInfo> {
    get("/api/v1/devices/me".into())
}

/// `GET /api/v1/programmes`: the lead's programmes.
pub fn programmes() -> Route<(), Vec<ProgrammeSummary>> {
    get("/api/v1/programmes".into())
}

/// `POST /api/v1/programmes`: a new programme (201).
pub fn create_programme() -> Route<NewProgramme, Programme> {
    Route::new(Method::Post, "/api/v1/programmes".into())
}

/// `GET /api/v1/programmes/{id}`: one programme.
pub fn programme(id: &str) -> Route<(), Programme> {
    get(programme_path(id, ""))
}

/// `PUT /api/v1/programmes/{id}`: its settings.
pub fn update_programme(id: &str) -> Route<Settings, Programme> {
    Route::new(Method::Put, programme_path(id, ""))
}

/// `GET /api/v1/programmes/{id}/status`: the dashboard's figures.
pub fn status(id: &str) -> Route<(), ProgrammeStatus> {
    get(programme_path(id, "/status"))
}

/// `GET /api/v1/programmes/{id}/events`: the live status, an event named `status`
/// whenever the status moved (the first at once).
pub fn status_events(id: &str) -> Route<(), EventStream> {
    get(programme_path(id, "/events"))
}

/// `GET /api/v1/programmes/{id}/clients`: the clients with their reps and visits.
pub fn clients(id: &str) -> Route<(), Vec<ClientView>> {
    get(programme_path(id, "/clients"))
}

/// `POST /api/v1/programmes/{id}/clients`: a new client (201).
pub fn create_client(id: &str) -> Route<NewClient, NewClientId> {
    Route::new(Method::Post, programme_path(id, "/clients"))
}

/// `PUT /api/v1/programmes/{id}/clients/{client_id}`: a client's details.
pub fn edit_client(id: &str, client_id: &str) -> Route<ClientEdit, Client> {
    let rest = format!("/clients/{}", encode(client_id));
    Route::new(Method::Put, programme_path(id, &rest))
}

/// `POST /api/v1/programmes/{id}/clients/import?dry_run=..&filename=..`: clients from
/// a CSV or XLSX file.
pub fn import_clients(id: &str, q: &ImportQuery) -> Route<Upload, ImportOutcome> {
    let rest = format!(
        "/clients/import{}",
        query(&[
            ("dry_run", Some(q.dry_run.to_string())),
            ("filename", q.filename.clone()),
            ("columns", q.columns.clone()),
        ])
    );
    Route::new(Method::Post, programme_path(id, &rest))
}

/// `POST /api/v1/programmes/{id}/clients/import/columns`: a file's columns and the field
/// guessed for each, before importing it.
pub fn import_columns(id: &str, filename: Option<&str>) -> Route<Upload, ImportColumns> {
    let rest = format!(
        "/clients/import/columns{}",
        query(&[("filename", filename.map(str::to_owned))])
    );
    Route::new(Method::Post, programme_path(id, &rest))
}

/// `PUT /api/v1/programmes/{id}/clients/{client_id}/relationship`: who knows the client.
pub fn set_relationship(id: &str, client_id: &str) -> Route<Relationship, Option<Assignment>> {
    let rest = format!("/clients/{}/relationship", encode(client_id));
    Route::new(Method::Put, programme_path(id, &rest))
}

/// `GET /api/v1/programmes/{id}/reps`: the reps.
pub fn reps(id: &str) -> Route<(), Vec<RepView>> {
    get(programme_path(id, "/reps"))
}

/// `POST /api/v1/programmes/{id}/reps`: a new rep (201).
pub fn create_rep(id: &str) -> Route<RepInput, NewRep> {
    Route::new(Method::Post, programme_path(id, "/reps"))
}

/// `PUT /api/v1/programmes/{id}/reps/{rep_id}`: a rep's details.
pub fn edit_rep(id: &str, rep_id: &str) -> Route<RepInput, RepView> {
    let rest = format!("/reps/{}", encode(rep_id));
    Route::new(Method::Put, programme_path(id, &rest))
}

/// `POST /api/v1/programmes/{id}/template/questions`: a new question (201).
pub fn add_question(id: &str) -> Route<NewQuestion, Template> {
    Route::new(Method::Post, programme_path(id, "/template/questions"))
}

fn question_path(id: &str, qid: &str) -> String {
    programme_path(id, &format!("/template/questions/{}", encode(qid)))
}

/// `PUT /api/v1/programmes/{id}/template/questions/{qid}`: a question's words or place.
pub fn change_question(id: &str, qid: &str) -> Route<QuestionChange, Template> {
    Route::new(Method::Put, question_path(id, qid))
}

/// `DELETE /api/v1/programmes/{id}/template/questions/{qid}`: a question removed.
pub fn delete_question(id: &str, qid: &str) -> Route<(), Template> {
    Route::new(Method::Delete, question_path(id, qid))
}

/// `GET /api/v1/programmes/{id}/assignments/suggestion`: who should visit whom.
pub fn suggestion(id: &str) -> Route<(), SuggestionView> {
    get(programme_path(id, "/assignments/suggestion"))
}

/// `POST /api/v1/programmes/{id}/assignments/apply`: the suggestion applied.
pub fn apply_suggestion(id: &str) -> Route<(), Programme> {
    Route::new(Method::Post, programme_path(id, "/assignments/apply"))
}

/// `PUT /api/v1/programmes/{id}/assignments/{client_id}`: the lead's own choice.
pub fn override_assignment(id: &str, client_id: &str) -> Route<Override, Option<Assignment>> {
    let rest = format!("/assignments/{}", encode(client_id));
    Route::new(Method::Put, programme_path(id, &rest))
}

/// `POST /api/v1/programmes/{id}/pairing-codes`: a one-time pairing code (201).
pub fn create_pairing_code(id: &str) -> Route<NewPairingCode, PairingCode> {
    Route::new(Method::Post, programme_path(id, "/pairing-codes"))
}

/// `GET /api/v1/programmes/{id}/devices`: the paired devices.
pub fn devices(id: &str) -> Route<(), Vec<DeviceView>> {
    get(programme_path(id, "/devices"))
}

/// `POST /api/v1/programmes/{id}/devices/{device_id}/revoke`: a device cut off (204).
pub fn revoke_device(id: &str, device_id: &str) -> Route<(), ()> {
    let rest = format!("/devices/{}/revoke", encode(device_id));
    Route::new(Method::Post, programme_path(id, &rest))
}

/// `GET /api/v1/programmes/{id}/follow-ups?state=..&owner=..`: follow-ups, filtered.
pub fn follow_ups(id: &str, filter: &FollowUpFilter) -> Route<(), Vec<FollowUpView>> {
    let state = filter.state.as_ref().and_then(|s| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
    });
    let rest = format!(
        "/follow-ups{}",
        query(&[("state", state), ("owner", filter.owner.clone())])
    );
    get(programme_path(id, &rest))
}

/// `PATCH /api/v1/programmes/{id}/visits/{visit_id}/follow-ups/{follow_up_id}`: a
/// follow-up's state, owner or due date.
pub fn patch_follow_up(
    id: &str,
    visit_id: &str,
    follow_up_id: &str,
) -> Route<FollowUpPatch, FollowUp> {
    let rest = format!(
        "/visits/{}/follow-ups/{}",
        encode(visit_id),
        encode(follow_up_id)
    );
    Route::new(Method::Patch, programme_path(id, &rest))
}

/// `GET /api/v1/programmes/{id}/visits/{visit_id}`: a visit as the lead reviews it.
pub fn lead_visit(id: &str, visit_id: &str) -> Route<(), LeadVisit> {
    get(programme_path(id, &format!("/visits/{}", encode(visit_id))))
}

/// `POST /api/v1/programmes/{id}/visits/{visit_id}/review`: accepts the visit or returns
/// it for rework; the visit as it is then.
pub fn review_visit(id: &str, visit_id: &str) -> Route<ReviewInput, LeadVisit> {
    Route::new(
        Method::Post,
        programme_path(id, &format!("/visits/{}/review", encode(visit_id))),
    )
}

/// `GET /api/v1/programmes/{id}/referrals`: the referrals of all visits.
pub fn referrals(id: &str) -> Route<(), Vec<ReferralView>> {
    get(programme_path(id, "/referrals"))
}

/// `GET /api/v1/programmes/{id}/opportunities`: the opportunities of all visits.
pub fn opportunities(id: &str) -> Route<(), Vec<OpportunityView>> {
    get(programme_path(id, "/opportunities"))
}

/// `GET /api/v1/programmes/{id}/exports/{file}`: one export file.
pub fn export(id: &str, file: &str) -> Route<(), FileBytes> {
    get(programme_path(id, &format!("/exports/{}", encode(file))))
}

/// `GET /api/v1/programmes/{id}/meetings?rep=&week=`: the reps' meetings as the lead
/// sees them.
pub fn meetings(id: &str, filter: &MeetingFilter) -> Route<(), MeetingsReport> {
    let rest = format!(
        "/meetings{}",
        query(&[("rep", filter.rep.clone()), ("week", filter.week.clone())])
    );
    get(programme_path(id, &rest))
}

/// `GET /api/v1/programmes/{id}/meetings.ics?rep=`: the meetings (of one rep, or all) as
/// an iCalendar file.
pub fn meetings_calendar(id: &str, rep: Option<&str>) -> Route<(), FileBytes> {
    let rest = format!("/meetings.ics{}", query(&[("rep", rep.map(str::to_owned))]));
    get(programme_path(id, &rest))
}

/// `GET /healthz`: whether the server and its database answer.
pub fn healthz() -> Route<(), Health> {
    get("/healthz".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::FollowUpState;

    #[test]
    fn paths_are_those_of_the_table() {
        assert_eq!(reps("p 1").path, "/api/v1/programmes/p%201/reps");
        assert_eq!(
            revoke_device("p1", "d/1").path,
            "/api/v1/programmes/p1/devices/d%2F1/revoke"
        );
        assert_eq!(delete_question("p1", "q1").method, Method::Delete);
        assert_eq!(
            patch_follow_up("p1", "v1", "f1").path,
            "/api/v1/programmes/p1/visits/v1/follow-ups/f1"
        );
        assert_eq!(
            export("p1", "visits.csv").path,
            "/api/v1/programmes/p1/exports/visits.csv"
        );
    }

    #[test]
    fn queries_carry_only_what_is_set() {
        assert_eq!(
            follow_ups("p1", &FollowUpFilter::default()).path,
            "/api/v1/programmes/p1/follow-ups"
        );
        let filter = FollowUpFilter {
            state: Some(FollowUpState::InProgress),
            owner: Some("Анна".into()),
        };
        assert_eq!(
            follow_ups("p1", &filter).path,
            "/api/v1/programmes/p1/follow-ups?state=in_progress&owner=%D0%90%D0%BD%D0%BD%D0%B0"
        );
        let q = ImportQuery {
            dry_run: true,
            filename: Some("a b.csv".into()),
            columns: None,
        };
        assert_eq!(
            import_clients("p1", &q).path,
            "/api/v1/programmes/p1/clients/import?dry_run=true&filename=a%20b.csv"
        );
        let q = ImportQuery {
            columns: Some(r#"{"Юрлицо":"company"}"#.into()),
            ..q
        };
        assert_eq!(
            import_clients("p1", &q).path,
            "/api/v1/programmes/p1/clients/import?dry_run=true&filename=a%20b.csv&columns=%7B%22%D0%AE%D1%80%D0%BB%D0%B8%D1%86%D0%BE%22%3A%22company%22%7D"
        );
    }
}
